-- Sagas not yet final on this node (ops bench, bench/sums.rs, after exact.lua; run on every
-- master and added up): the sum of ZCARD over the order service's per-bucket active sets
-- `sagas:active:{o<b>}`. No ARGV. Returns: the count.
local n, cursor = 0, "0"
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', 'sagas:active:*', 'COUNT', 10000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do n = n + redis.call('ZCARD', k) end
until cursor == "0"
return n
