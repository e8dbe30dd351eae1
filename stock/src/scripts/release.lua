-- Releases what a saga reserved, once; leaves a tombstone if nothing was reserved yet.
-- KEYS[1]: the saga record (saga:{sid})
-- ARGV[1]: the item key prefix ("item:")
-- Returns: {"undone"}
-- The item keys come from the stored lines, so they are not declared in KEYS:
-- this service uses one stand-alone Redis (no cluster), where that is safe.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'reserved' then
  local lines = redis.call('HGET', KEYS[1], 'lines') or ''
  for id, qty in string.gmatch(lines, '([^|;]+)|([^;]+)') do
    redis.call('HINCRBY', ARGV[1] .. id, 'stock', qty)
  end
  redis.call('HSET', KEYS[1], 'status', 'released')
elseif not status then
  redis.call('HSET', KEYS[1], 'status', 'released')
end
return {'undone'}
