-- Extends a saga's lease if the caller still holds it and the saga is not final.
-- KEYS[1] saga hash, KEYS[2] active sagas zset
-- ARGV[1] saga id, ARGV[2] owner token, ARGV[3] lease ms
-- Returns 1 (renewed) | 0 (the lease is someone else's, or the saga is final)
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
