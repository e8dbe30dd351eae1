-- Refunds what a saga charged, once; leaves a tombstone if nothing was charged yet.
-- KEYS[1]: the saga record (saga:{sid})
-- ARGV[1]: the user key prefix ("user:")
-- Returns: {"undone"}
-- The user key comes from the record, so it is not declared in KEYS: this
-- service uses one stand-alone Redis (no cluster), where that is safe.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'charged' then
  local user = redis.call('HGET', KEYS[1], 'user')
  local amount = redis.call('HGET', KEYS[1], 'amount')
  redis.call('HINCRBY', ARGV[1] .. user, 'credit', amount)
  redis.call('HSET', KEYS[1], 'status', 'refunded')
elseif not status then
  redis.call('HSET', KEYS[1], 'status', 'refunded')
end
return {'undone'}
