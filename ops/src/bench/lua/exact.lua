-- Exact integer sums for the bench's Lua scripts (ops bench, bench/sums.rs, prepends this file).
-- Redis' Lua numbers are doubles, exact only up to 2^53; stock and credit go up to 2^63 - 1
-- (and the API fuzzer leaves values that large behind). An accumulator keeps two limbs,
-- hi * 10^9 + lo, each far below 2^53, and is printed as a decimal string.
local BASE = 1000000000

local function acc() return {0, 0} end

-- Adds the decimal string (or integer) v to accumulator a.
local function add(a, v)
  local s = tostring(v)
  local sign = 1
  if string.sub(s, 1, 1) == '-' then sign = -1; s = string.sub(s, 2) end
  if not string.find(s, '^%d+$') then error('not an integer: ' .. tostring(v)) end
  local hi, lo = 0, tonumber(s)
  if #s > 9 then hi = tonumber(string.sub(s, 1, #s - 9)); lo = tonumber(string.sub(s, -9)) end
  a[1] = a[1] + sign * hi
  a[2] = a[2] + sign * lo
  while a[2] >= BASE do a[2] = a[2] - BASE; a[1] = a[1] + 1 end
  while a[2] < 0 do a[2] = a[2] + BASE; a[1] = a[1] - 1 end
end

-- The accumulator's value as a decimal string.
local function show(a)
  local hi, lo = a[1], a[2]
  local sign = ''
  if hi < 0 then
    sign = '-'
    if lo > 0 then hi = hi + 1; lo = BASE - lo end
    hi = -hi
  end
  if hi == 0 then return sign .. string.format('%d', lo) end
  return sign .. string.format('%.0f%09d', hi, lo)
end
