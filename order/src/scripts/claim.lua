-- Takes the lease of sagas whose lease expired, so one replica drives each.
-- KEYS[1] active sagas zset (saga id -> lease expiry ms)
-- ARGV[1] lease ms, ARGV[2] how many at most
-- Returns the claimed saga ids
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
end
return ids
