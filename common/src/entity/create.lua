-- Creates a hash (an order, an item, a user) once per idempotency key; runs after the idempotency
-- prelude (common/src/idempotency.lua), whose key and two arguments come after these:
-- KEYS[1]: the new hash, whose id is derived from the idempotency key
-- ARGV[1..]: field, value, field, value, ...
-- Returns {"created"}, or the prelude's {"replay", "created"} | {"reused", <first request>}.
-- A hash that exists already was made by this key (its id is the key's) and its record
-- has expired: it is left as it is, never reset.
local seen = replay()
if seen then return seen end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local fields = {}
  for i = 1, #ARGV - 2 do fields[i] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
end
return remember({'created'})
