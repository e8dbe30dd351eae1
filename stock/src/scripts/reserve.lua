-- Reserves stock for every line of a saga at once, or for none of them.
-- KEYS[1]: the saga's record for this group of its items (saga:{first item}:sid), a hash
-- {status, reason | lines}, in the same slot as every item of the group
-- KEYS[1+i]: the item of line i (item:{id})
-- ARGV[2i-1]: the item id of line i (for messages and the record)
-- ARGV[2i]: the quantity of line i, a positive decimal i64
-- Returns: {"done"} | {"refused", reason} | {"cancelled"}
-- Runs after common/src/participant/scripts/recorded.lua: a repeat answers the recorded
-- outcome; a saga already released is cancelled.
local answered = recorded('reserved', 'released')
if answered then return answered end

-- Puts back the first `done` lines and records the refusal.
local function refuse(done, reason)
  for j = 1, done do
    redis.call('HINCRBY', KEYS[j + 1], 'stock', ARGV[2 * j])
  end
  redis.call('HSET', KEYS[1], 'status', 'refused', 'reason', reason)
  return {'refused', reason}
end

local lines = {}
for i = 1, #KEYS - 1 do
  local key, id, qty = KEYS[i + 1], ARGV[2 * i - 1], ARGV[2 * i]
  if redis.call('EXISTS', key) == 0 then
    return refuse(i - 1, 'item ' .. id .. ' not found')
  end
  local r = redis.pcall('HINCRBY', key, 'stock', '-' .. qty)
  if type(r) == 'table' and r.err then
    return refuse(i - 1, 'item ' .. id .. ' cannot take ' .. qty .. ' off its stock')
  end
  if r < 0 then
    redis.call('HINCRBY', key, 'stock', qty)
    local have = redis.call('HGET', key, 'stock')
    return refuse(i - 1, 'item ' .. id .. ' has ' .. have .. ' in stock, ' .. qty .. ' needed')
  end
  lines[i] = id .. '|' .. qty
end
redis.call('HSET', KEYS[1], 'status', 'reserved', 'lines', table.concat(lines, ';'))
return {'done'}
