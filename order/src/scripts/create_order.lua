-- Creates an empty, unpaid order for a user, once per idempotency key; runs after the
-- idempotency prelude (common/src/idempotency.lua), whose key and two arguments come after
-- these:
-- KEYS[1]: the new order's hash (order:{id}), whose id is derived from the idempotency key
-- ARGV[1]: the user id
-- Returns {"created"}, or the prelude's {"replay", "created"} | {"reused", <first request>}.
-- An order that exists already was made by this key and its record has expired: it is
-- left as it is (it may have lines, or be paid), never reset.
local seen = replay()
if seen then return seen end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'user', ARGV[1], 'paid', '0', 'cost', '0', 'lines', '')
end
return remember({'created'})
