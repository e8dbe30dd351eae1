-- Takes the lease of one bucket's sagas whose lease expired, so one replica drives each.
-- KEYS[1] the bucket's active sagas zset (saga id -> lease expiry ms)
-- ARGV[1] lease ms, ARGV[2] how many at most, ARGV[3] the claiming driver (owner token),
-- ARGV[4] the bucket's saga key prefix ("saga:{o<b>}:")
-- The saga hashes are named here rather than in KEYS because which sagas expired is only
-- known inside the script; they share KEYS[1]'s hash tag, so they are in its slot.
-- Returns {saga id, order id, ...} of the claimed sagas
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, id in ipairs(expired) do
  local saga = ARGV[4] .. id
  local order = redis.call('HGET', saga, 'order')
  if order then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
    redis.call('HSET', saga, 'owner', ARGV[3])
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = order
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
