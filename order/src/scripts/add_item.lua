-- Appends one line to an order and adds its cost to the total, atomically.
-- KEYS[1] order hash (user, paid, cost, lines, busy)
-- ARGV[1] item id, ARGV[2] quantity, ARGV[3] cost of the line (price * quantity, computed with overflow checks)
-- Returns "ok" | "missing" | "paid" | "busy" (checkout in flight) | "overflow" (total would not fit in i64)
-- Runs after the idempotency prelude (common/src/idempotency.lua) and editable.lua (the
-- order must exist, be unpaid and not busy). The idempotency key and its two
-- arguments come after these: a repeat of the key answers {'replay', <first answer>},
-- the key used for another request {'reused', <its request>}; answers are one-element arrays.
local seen = replay()
if seen then return seen end
local state, refused = editable()
if not state then return refused end
local ok = redis.pcall('HINCRBY', KEYS[1], 'cost', ARGV[3])
if type(ok) == 'table' and ok.err then return remember({'overflow'}) end
local line = ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3]
local lines = state[3] or ''
if lines == '' then lines = line else lines = lines .. ';' .. line end
redis.call('HSET', KEYS[1], 'lines', lines)
return remember({'ok'})
