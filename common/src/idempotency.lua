-- The prelude of every public write script (common/src/idempotency.rs prepends it), so
-- that a write sent again with the same idempotency key is applied once and answered
-- the same. Its key and arguments come LAST, after the script's own:
--   KEYS[#KEYS]      the key's record (idem:...), in the slot of the entity written
--   ARGV[#ARGV - 1]  the record's time to live in ms
--   ARGV[#ARGV]      the request the key was sent with ("POST /add/7/5")
-- A script starts with `local seen = replay() if seen then return seen end` and ends every
-- path with `return remember({...})`: its answer is an array of strings, stored as JSON
-- after the request and a newline. replay() answers {'replay', <the first answer...>} for
-- a repeat, {'reused', <the first request>} for the same key on another request, or nil.
local IDEM_KEY = KEYS[#KEYS]
local IDEM_TTL = ARGV[#ARGV - 1]
local IDEM_REQUEST = ARGV[#ARGV]

local function replay()
  local seen = redis.call('GET', IDEM_KEY)
  if not seen then return nil end
  local cut = string.find(seen, '\n', 1, true)
  local request = string.sub(seen, 1, cut - 1)
  if request ~= IDEM_REQUEST then return {'reused', request} end
  local answer = cjson.decode(string.sub(seen, cut + 1))
  table.insert(answer, 1, 'replay')
  return answer
end

local function remember(answer)
  redis.call('SET', IDEM_KEY, IDEM_REQUEST .. '\n' .. cjson.encode(answer), 'PX', IDEM_TTL)
  return answer
end

