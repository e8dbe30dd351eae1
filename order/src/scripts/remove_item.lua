-- Removes every line of one item from an order and takes exactly their costs off the total.
-- KEYS[1] order hash; ARGV[1] item id
-- Returns "ok" | "missing" | "paid" | "busy" | "absent" (the item is not in the order)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local state = redis.call('HMGET', KEYS[1], 'paid', 'busy', 'lines')
if state[1] == '1' then return 'paid' end
if state[2] and state[2] ~= '' then return 'busy' end
local kept = {}
local removed = false
for entry in string.gmatch(state[3] or '', '[^;]+') do
  local id, _, cost = string.match(entry, '^([^|]*)|([^|]*)|([^|]*)$')
  if id == ARGV[1] then
    -- exact integer arithmetic in Redis, never in Lua numbers (HINCRBY refuses "-0")
    if cost ~= '0' then redis.call('HINCRBY', KEYS[1], 'cost', '-' .. cost) end
    removed = true
  else
    kept[#kept + 1] = entry
  end
end
if not removed then return 'absent' end
redis.call('HSET', KEYS[1], 'lines', table.concat(kept, ';'))
return 'ok'
