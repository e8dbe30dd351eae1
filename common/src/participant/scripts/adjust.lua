-- Adds a signed delta to one integer field of an existing hash, never below 0, once per
-- idempotency key. One copy for every participant (common::participant::Adjust); runs
-- after the idempotency prelude (common/src/idempotency.lua), whose key and two
-- arguments come after these:
-- KEYS[1]: the hash (stock: item:{id}; payment: user:{id})
-- ARGV[1]: the field (stock: "stock"; payment: "credit")
-- ARGV[2]: the delta, a decimal i64 (negative to subtract)
-- ARGV[3]: the opposite of the delta (to undo it)
-- Returns: {"ok", new value} | {"insufficient", current value} | {"missing"} | {"overflow"},
-- or the prelude's {"replay", <first answer>} | {"reused", <first request>}.
-- Values are read back with HGET as strings: Lua numbers are doubles and would
-- round big integers, so the only arithmetic is HINCRBY's (exact i64).
local seen = replay()
if seen then return seen end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return remember({'missing'})
end
local r = redis.pcall('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if type(r) == 'table' and r.err then
  return remember({'overflow'})
end
if r < 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[3])
  return remember({'insufficient', redis.call('HGET', KEYS[1], ARGV[1])})
end
return remember({'ok', redis.call('HGET', KEYS[1], ARGV[1])})
