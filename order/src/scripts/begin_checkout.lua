-- Logs a new saga and marks its order as checking out, in one atomic step: the order is
-- read, its quantities summed per item, and the saga written here, so a checkout costs
-- one round trip before its first step.
-- KEYS[1] order hash, KEYS[2] saga hash, KEYS[3] active sagas (zset: saga id -> lease expiry ms),
-- KEYS[4] the order's saga history (list)
-- (all four in the order's bucket: one slot of the cluster)
-- ARGV[1] saga id, ARGV[2] lease ms, ARGV[3] owner token (the driver holding the lease),
-- ARGV[4] order id
-- Sent again after a lost answer (the store retries through a failover), it finds its own
-- saga in flight and answers "started" again from the saga's record, changing nothing.
-- Returns {"started", user, amount, items summed per item ("id|qty;...", sorted by id)}
--       | {"missing"} | {"paid"} | {"busy", saga id in flight}
--       | {"overflow", item id} (a summed quantity does not fit in a signed 64-bit integer)

-- Exact sum of two non-negative decimal strings (Lua numbers are doubles: exact only
-- below 2^53, and quantities go up to 2^63 - 1).
local function add_decimal(a, b)
  local out, carry = {}, 0
  local i, j = #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local d = carry
    if i > 0 then d = d + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then d = d + string.byte(b, j) - 48; j = j - 1 end
    out[#out + 1] = d % 10
    carry = math.floor(d / 10)
  end
  local s = {}
  for k = #out, 1, -1 do s[#s + 1] = out[k] end
  return table.concat(s)
end

local I64_MAX = '9223372036854775807'
local function fits_i64(s)
  return #s < #I64_MAX or (#s == #I64_MAX and s <= I64_MAX)
end

if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local o = redis.call('HMGET', KEYS[1], 'paid', 'busy', 'lines', 'user', 'cost')
if o[1] == '1' then return {'paid'} end
if o[2] == ARGV[1] then
  local saga = redis.call('HMGET', KEYS[2], 'user', 'amount', 'items')
  return {'started', saga[1] or '', saga[2] or '0', saga[3] or ''}
end
if o[2] and o[2] ~= '' then return {'busy', o[2]} end

local sums, ids = {}, {}
for item, qty in string.gmatch(o[3] or '', '([^|;]+)|(%d+)|[^;]*') do
  if sums[item] then
    sums[item] = add_decimal(sums[item], qty)
    if not fits_i64(sums[item]) then return {'overflow', item} end
  else
    sums[item] = qty
    ids[#ids + 1] = item
  end
end
table.sort(ids)
local parts = {}
for _, id in ipairs(ids) do parts[#parts + 1] = id .. '|' .. sums[id] end
local items = table.concat(parts, ';')

local user, amount = o[4] or '', o[5] or '0'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'order', ARGV[4], 'user', user, 'amount', amount,
  'items', items, 'state', 'started', 'created', now, 'updated', now, 'owner', ARGV[3])
redis.call('HSET', KEYS[1], 'busy', ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[1])
return {'started', user, amount, items}
