-- Refunds what a saga charged, once; leaves a tombstone if nothing was charged yet.
-- KEYS[1]: the saga record (saga:{uid}:sid), KEYS[2]: the user (user:{uid}), one slot
-- Returns: {"undone"}
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'charged' then
  local amount = redis.call('HGET', KEYS[1], 'amount')
  redis.call('HINCRBY', KEYS[2], 'credit', amount)
  redis.call('HSET', KEYS[1], 'status', 'refunded')
elseif not status then
  redis.call('HSET', KEYS[1], 'status', 'refunded')
end
return {'undone'}
