-- wrk script of the closed-loop benchmark (stress-test/bench.sh).
--
--   wrk ... -s checkout.lua URL -- MODE PREFIX BASE COUNT
--
--   MODE fresh:  thread t of T sends PREFIX..(BASE + t + T*j) for j = 0, 1, ...: every id is
--                sent once (ids never checked out before when BASE is past the last run).
--   MODE random: PREFIX..(random id in BASE .. BASE+COUNT-1), repeats included; each
--                thread seeds its generator from the clock and its thread number.
--
-- done() prints one line "RESULT key=value ..." for bench.sh: requests, 2xx, non2xx,
-- 5xx, socket errors, rate of 2xx per second, p50/p99/p99.9 latency in microseconds,
-- and next_base (the first id that no thread of a fresh run has used).

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   prefix = args[2]
   base = tonumber(args[3])
   count = tonumber(args[4])
   -- number of threads of this run, for the stride (set by bench.sh to wrk's -t)
   stride = tonumber(args[5])
   j = 0
   ok = 0
   non2xx = 0
   s5xx = 0
   if mode == "random" then
      math.randomseed(os.time() * 1000 + tid * 7919 + math.floor((os.clock() * 1e6) % 1000))
      for _ = 1, 10 do math.random() end
   end
end

function request()
   local id
   if mode == "fresh" then
      id = base + tid + stride * j
      j = j + 1
   else
      id = base + math.random(0, count - 1)
   end
   return wrk.format("POST", prefix .. id)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non2xx = non2xx + 1
      if status >= 500 then s5xx = s5xx + 1 end
   end
end

function done(summary, latency, requests)
   local ok_t, non2xx_t, s5xx_t, maxj = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      ok_t = ok_t + t:get("ok")
      non2xx_t = non2xx_t + t:get("non2xx")
      s5xx_t = s5xx_t + t:get("s5xx")
      local tj = t:get("j")
      if tj > maxj then maxj = tj end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   local b = tonumber(threads[1]:get("base"))
   local st = tonumber(threads[1]:get("stride"))
   io.write(string.format(
      "RESULT requests=%d ok=%d non2xx=%d s5xx=%d sockerr=%d rate=%.1f p50=%d p99=%d p999=%d next_base=%d\n",
      summary.requests, ok_t, non2xx_t, s5xx_t,
      e.connect + e.read + e.write + e.timeout,
      ok_t / secs,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
      b + st * (maxj + 1)))
end
