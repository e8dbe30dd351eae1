-- Takes the lease of sagas whose lease expired, so one replica drives each.
-- KEYS[1] active sagas zset (saga id -> lease expiry ms)
-- ARGV[1] lease ms, ARGV[2] how many at most, ARGV[3] the claiming driver (owner token)
-- The saga hashes (saga:{id}) are named here rather than in KEYS because which sagas
-- expired is only known inside the script; the order service uses one Redis, never a cluster.
-- Returns the claimed saga ids
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, id in ipairs(expired) do
  local saga = 'saga:' .. id
  if redis.call('EXISTS', saga) == 1 then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
    redis.call('HSET', saga, 'owner', ARGV[3])
    claimed[#claimed + 1] = id
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
