-- Sum of one integer hash field over every key matching a pattern (ops bench, bench/sums.rs,
-- after exact.lua). ARGV: pattern, field. Returns: number of keys, exact sum (a string).
local n, sum, cursor = 0, acc(), "0"
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 10000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local v = redis.call('HGET', k, ARGV[2])
    if v then n = n + 1; add(sum, v) end
  end
until cursor == "0"
return {n, show(sum)}
