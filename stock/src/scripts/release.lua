-- Releases what a saga reserved of one group of its items, once; leaves a tombstone if
-- nothing was reserved there yet.
-- KEYS[1]: the group's saga record (saga:{first item}:sid)
-- KEYS[2..]: the group's items (item:{id}), all in the record's slot
-- Returns: {"undone"} | {"full", item id}
-- All lines or none: when putting a line back would pass the largest i64 (stock was added
-- meanwhile), the lines already put back are taken off again and the group stays reserved,
-- so a retry (once stock went down) puts everything back exactly once.
-- The quantities come from the record (what was reserved), the item keys from KEYS.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'reserved' then
  local lines = redis.call('HGET', KEYS[1], 'lines') or ''
  local keys = {}
  for i = 2, #KEYS do keys[KEYS[i]] = true end
  local done = {}
  for id, qty in string.gmatch(lines, '([^|;]+)|([^;]+)') do
    local key = 'item:{' .. id .. '}'
    if not keys[key] then
      return redis.error_reply('release of ' .. KEYS[1] .. ' does not name item ' .. id)
    end
    local r = redis.pcall('HINCRBY', key, 'stock', qty)
    if type(r) == 'table' and r.err then
      for _, back in ipairs(done) do
        redis.call('HINCRBY', back[1], 'stock', '-' .. back[2])
      end
      return {'full', id}
    end
    done[#done + 1] = {key, qty}
  end
  redis.call('HSET', KEYS[1], 'status', 'released')
elseif not status then
  redis.call('HSET', KEYS[1], 'status', 'released')
end
return {'undone'}
