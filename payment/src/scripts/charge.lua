-- Charges a user for a saga, once.
-- KEYS[1]: the saga record (saga:{uid}:sid), a hash {status, user, amount | reason}
-- KEYS[2]: the user (user:{uid}), in the same slot
-- ARGV[1]: the user id (for messages and the record)
-- ARGV[2]: the amount, a non-negative decimal i64
-- Returns: {"done"} | {"refused", reason} | {"cancelled"}
-- Runs after common/src/participant/scripts/recorded.lua: a repeat answers the recorded
-- outcome; a saga already refunded is cancelled.
-- No arithmetic in Lua (numbers are doubles): HINCRBY does it exactly.
local answered = recorded('charged', 'refunded')
if answered then return answered end

local function refuse(reason)
  redis.call('HSET', KEYS[1], 'status', 'refused', 'reason', reason)
  return {'refused', reason}
end

local user, amount = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 0 then
  return refuse('user ' .. user .. ' not found')
end
-- Charging 0 (an order that costs nothing) changes no credit; HINCRBY would refuse "-0".
if amount ~= '0' then
  local r = redis.pcall('HINCRBY', KEYS[2], 'credit', '-' .. amount)
  if type(r) == 'table' and r.err then
    return refuse('user ' .. user .. ' cannot be charged ' .. amount)
  end
  if r < 0 then
    redis.call('HINCRBY', KEYS[2], 'credit', amount)
    local have = redis.call('HGET', KEYS[2], 'credit')
    return refuse('user ' .. user .. ' has credit ' .. have .. ', ' .. amount .. ' needed')
  end
end
redis.call('HSET', KEYS[1], 'status', 'charged', 'user', user, 'amount', amount)
return {'done'}
