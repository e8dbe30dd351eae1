-- Removes every line of one item from an order and takes exactly their costs off the total.
-- KEYS[1] order hash; ARGV[1] item id
-- Returns "ok" | "missing" | "paid" | "busy" | "absent" (the item is not in the order)
-- Runs after the idempotency prelude (common/src/idempotency.lua) and editable.lua (the
-- order must exist, be unpaid and not busy). The idempotency key and its two
-- arguments come after these: a repeat of the key answers {'replay', <first answer>},
-- the key used for another request {'reused', <its request>}; answers are one-element arrays.
local seen = replay()
if seen then return seen end
local state, refused = editable()
if not state then return refused end
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
