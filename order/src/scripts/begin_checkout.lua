-- Logs a new saga and marks its order as checking out, in one atomic step.
-- KEYS[1] order hash, KEYS[2] saga hash, KEYS[3] active sagas (zset: saga id -> lease expiry ms),
-- KEYS[4] the order's saga history (list)
-- ARGV[1] saga id, ARGV[2] the order's lines as the caller read them (compare-and-set),
-- ARGV[3] user id, ARGV[4] amount, ARGV[5] items summed per item ("id|qty;..."), ARGV[6] lease ms,
-- ARGV[7] owner token (the driver holding the lease)
-- Returns {"started"} | {"missing"} | {"paid"} | {"busy", saga id in flight} | {"changed"} (lines moved on: read again)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local state = redis.call('HMGET', KEYS[1], 'paid', 'busy', 'lines')
if state[1] == '1' then return {'paid'} end
if state[2] and state[2] ~= '' then return {'busy', state[2]} end
if (state[3] or '') ~= ARGV[2] then return {'changed'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'order', string.sub(KEYS[1], 7), 'user', ARGV[3], 'amount', ARGV[4],
  'items', ARGV[5], 'state', 'started', 'created', now, 'updated', now, 'owner', ARGV[7])
redis.call('HSET', KEYS[1], 'busy', ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[1])
return {'started'}
