-- wrk script for benchmarks/read_path.py: GETs rotating over pre-generated paths.
--
-- Configured through the environment (read by every thread and by done()):
--   BENCH_PATHS   Lua file returning a table of paths (written by benchmarks/read_load.py)
--   BENCH_THREADS wrk thread count (the index stride)
-- done() prints one line: WRK_RESULT <json>, in the format benchmarks/loadgen.py reads.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   paths = dofile(os.getenv("BENCH_PATHS"))
   stride = tonumber(os.getenv("BENCH_THREADS"))
   counter = tid
   ok = 0
   non2xx = 0
   statuses = {}
   first_error = ""
end

function request()
   local path = paths[(counter % #paths) + 1]
   counter = counter + stride
   return wrk.format("GET", path)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non2xx = non2xx + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      if first_error == "" and body ~= nil then
         first_error = string.sub(body, 1, 300)
      end
   end
end

local function json_string(s)
   s = string.gsub(s, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. s .. '"'
end

function done(summary, latency, requests)
   local total_ok, total_non2xx = 0, 0
   local merged, first = {}, ""
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_non2xx = total_non2xx + thread:get("non2xx")
      for status, n in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + n
      end
      if first == "" then
         first = thread:get("first_error")
      end
   end
   local parts = {}
   for status, n in pairs(merged) do
      parts[#parts + 1] = string.format('"%s":%d', status, n)
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests":%d,"duration_us":%d,"ok":%d,"ok_ids":0,"non2xx":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"socket_errors":%d,"statuses":{%s},"first_error":%s}\n',
      summary.requests, summary.duration, total_ok, total_non2xx,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect + e.read + e.write + e.timeout, table.concat(parts, ","), json_string(first)))
end
