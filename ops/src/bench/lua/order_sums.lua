-- Exact sums over the order service's Redis (ops bench, bench/sums.rs, after
-- exact.lua; the sums are decimal strings).
-- ARGV: NU, then NU user ids, then item ids (the sample).
-- Returns: orders, paid orders, total cost of paid orders, units in paid orders, busy
-- orders, then per sampled user the cost of its paid orders, then per sampled item the
-- units of it in paid orders. A sampled id may appear more than once in the sample.
local function index(map, id, i)
  map[id] = map[id] or {}
  table.insert(map[id], i)
end
local nu = tonumber(ARGV[1])
local ucost, iunits, uidx, iidx = {}, {}, {}, {}
for i = 1, nu do index(uidx, ARGV[1 + i], i); ucost[i] = acc() end
for i = 2 + nu, #ARGV do index(iidx, ARGV[i], i - 1 - nu); iunits[i - 1 - nu] = acc() end
local n, paid, cost, units, busy = 0, 0, acc(), acc(), 0
local cursor = "0"
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', 'order:*', 'COUNT', 10000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    if not string.find(k, ':sagas$') then
      local f = redis.call('HMGET', k, 'paid', 'cost', 'lines', 'busy', 'user')
      n = n + 1
      if f[4] and f[4] ~= '' then busy = busy + 1 end
      if f[1] == '1' then
        paid = paid + 1
        local c = f[2]
        add(cost, c)
        for _, u in ipairs(uidx[f[5]] or {}) do add(ucost[u], c) end
        for item, q in string.gmatch(f[3] or '', '([^|;]+)|(%d+)|%-?%d+') do
          add(units, q)
          for _, ii in ipairs(iidx[item] or {}) do add(iunits[ii], q) end
        end
      end
    end
  end
until cursor == "0"
local out = {n, paid, show(cost), show(units), busy}
for i = 1, nu do out[#out + 1] = show(ucost[i]) end
for i = 1, #iunits do out[#out + 1] = show(iunits[i]) end
return out
