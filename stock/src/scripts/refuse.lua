-- Undoes one group of a saga's reserve because another group of the same saga refused,
-- and records that refusal here, so that a repeat of the reserve answers it.
-- KEYS[1]: the group's saga record (saga:{first item}:sid)
-- KEYS[2..]: the group's items (item:{id}), all in the record's slot
-- ARGV[1]: the reason the other group gave
-- Returns: {"refused", reason}
-- A group already released or refused is left as it is. Taking reserved units back off
-- cannot fail: they were there when reserved, and this adds them back.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'reserved' then
  local lines = redis.call('HGET', KEYS[1], 'lines') or ''
  for id, qty in string.gmatch(lines, '([^|;]+)|([^;]+)') do
    redis.call('HINCRBY', 'item:{' .. id .. '}', 'stock', qty)
  end
  redis.call('HSET', KEYS[1], 'status', 'refused', 'reason', ARGV[1])
elseif not status then
  redis.call('HSET', KEYS[1], 'status', 'refused', 'reason', ARGV[1])
end
return {'refused', redis.call('HGET', KEYS[1], 'reason') or ARGV[1]}
