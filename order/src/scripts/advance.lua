-- Records a saga's new state if it is still in the state the caller saw (compare-and-set).
-- Reaching "committed" marks the order paid; a final state frees the order and
-- drops the saga from the active set; any other state renews the lease.
-- KEYS[1] saga hash, KEYS[2] order hash, KEYS[3] active sagas zset
-- Only the lease holder may write: a driver whose lease was taken over gets "lost".
-- ARGV[1] saga id, ARGV[2] expected state, ARGV[3] new state, ARGV[4] reason ("" for none),
-- ARGV[5] lease ms, ARGV[6] owner token
-- Returns {"ok"} | {"stale", current state} | {"missing"} | {"lost"}
-- Sent again after a lost answer (the store retries through a failover), it finds the
-- state it set, by the same owner, and answers "ok" again, changing nothing.
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return {'missing'} end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[6] then return {'lost'} end
if current == ARGV[3] and current ~= ARGV[2] then return {'ok'} end
if current ~= ARGV[2] then return {'stale', current} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'updated', now, ARGV[3] .. '_at', now)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[4]) end
if ARGV[3] == 'committed' or ARGV[3] == 'aborted' then
  if ARGV[3] == 'committed' then redis.call('HSET', KEYS[2], 'paid', '1') end
  if redis.call('HGET', KEYS[2], 'busy') == ARGV[1] then redis.call('HDEL', KEYS[2], 'busy') end
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[1])
end
return {'ok'}
