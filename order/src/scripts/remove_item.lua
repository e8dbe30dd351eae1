-- Removes every line of one item from an order and takes exactly their costs off the total.
-- KEYS[1] order hash; ARGV[1] item id
-- Returns "ok" | "missing" | "paid" | "busy" | "absent" (the item is not in the order)
-- Runs after the idempotency prelude (common/src/idempotency.lua), whose key and two
-- arguments come after these: a repeat of the key answers {'replay', <first answer>},
-- the key used for another request {'reused', <its request>}; answers are one-element arrays.
local seen = replay()
if seen then return seen end
if redis.call('EXISTS', KEYS[1]) == 0 then return remember({'missing'}) end
local state = redis.call('HMGET', KEYS[1], 'paid', 'busy', 'lines')
if state[1] == '1' then return remember({'paid'}) end
if state[2] and state[2] ~= '' then return remember({'busy'}) end
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
if not removed then return remember({'absent'}) end
redis.call('HSET', KEYS[1], 'lines', table.concat(kept, ';'))
return remember({'ok'})
