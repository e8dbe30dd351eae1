-- Releases what a saga reserved, once; leaves a tombstone if nothing was reserved yet.
-- KEYS[1]: the saga record (saga:{sid})
-- ARGV[1]: the item key prefix ("item:")
-- Returns: {"undone"} | {"full", item id}
-- All lines or none: when putting a line back would pass the largest i64 (stock was added
-- meanwhile), the lines already put back are taken off again and the saga stays reserved,
-- so a retry (once stock went down) puts everything back exactly once.
-- The item keys come from the stored lines, so they are not declared in KEYS:
-- this service uses one stand-alone Redis (no cluster), where that is safe.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'reserved' then
  local lines = redis.call('HGET', KEYS[1], 'lines') or ''
  local done = {}
  for id, qty in string.gmatch(lines, '([^|;]+)|([^;]+)') do
    local r = redis.pcall('HINCRBY', ARGV[1] .. id, 'stock', qty)
    if type(r) == 'table' and r.err then
      for _, back in ipairs(done) do
        redis.call('HINCRBY', back[1], 'stock', '-' .. back[2])
      end
      return {'full', id}
    end
    done[#done + 1] = {ARGV[1] .. id, qty}
  end
  redis.call('HSET', KEYS[1], 'status', 'released')
elseif not status then
  redis.call('HSET', KEYS[1], 'status', 'released')
end
return {'undone'}
