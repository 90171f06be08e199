-- wrk script for benchmarks/write_path.py: rotates over pre-generated requests.
--
-- Configured through the environment (read by every thread and by done()):
--   BENCH_DATA    Lua file returning the request tables (written by benchmarks/loadgen.py)
--   BENCH_MODE    naive | cart | stock | mixed (mixed alternates cart and stock) | register
--   BENCH_PREFIX  request id prefix of this invocation (X-Request-Id header, naive "ref")
--   BENCH_START   first request index (runs continue where the previous one stopped)
--   BENCH_THREADS wrk thread count (the index stride)
--   BENCH_MAX     answers per thread after which the thread stops
--   BENCH_OUT     file that receives the request id of every 2xx answer, one per line
-- done() prints one line: WRK_RESULT <json>.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   data = dofile(os.getenv("BENCH_DATA"))
   mode = os.getenv("BENCH_MODE")
   prefix = os.getenv("BENCH_PREFIX")
   stride = tonumber(os.getenv("BENCH_THREADS"))
   counter = tonumber(os.getenv("BENCH_START")) + tid
   sent = 0
   max_answers = tonumber(os.getenv("BENCH_MAX"))
   answered = 0
   ok = 0
   non2xx = 0
   ok_ids = {}
   statuses = {}
   first_error = ""
   ncarts = #data.cart_paths
   nproducts = #data.cart_bodies
   nstock = #data.stock_paths
   nregister = #data.register_auth
end

local function cart_request(k, id)
   local c = k % ncarts
   local p = (math.floor(k / ncarts) + c) % nproducts
   return wrk.format("POST", data.cart_paths[c + 1], {
      ["Content-Type"] = "application/json",
      ["Authorization"] = data.shopper_auth[c + 1],
      ["X-Request-Id"] = id,
   }, data.cart_bodies[p + 1])
end

local function stock_request(k, id)
   local s = k % nstock
   return wrk.format("POST", data.stock_paths[s + 1], {
      ["Content-Type"] = "application/json",
      ["Authorization"] = data.seller_auth[data.stock_owner[s + 1]],
      ["X-Request-Id"] = id,
   }, '{"quantity":1}')
end

local function register_request(k, id)
   return wrk.format("POST", "/v1/customers", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = data.register_auth[(k % nregister) + 1],
      ["X-Request-Id"] = id,
   }, '{"name":"Benchmark Customer","email":"customer@bench.example"}')
end

function request()
   local i = counter
   local j = sent
   counter = counter + stride
   sent = sent + 1
   if mode == "naive" then
      local id = prefix .. "-n" .. i
      local body = '{"ref":"' .. id .. '","name":"item","quantity":1}'
      return wrk.format("POST", "/items", {["Content-Type"] = "application/json"}, body)
   elseif mode == "cart" then
      return cart_request(i, prefix .. "-c" .. i)
   elseif mode == "stock" then
      return stock_request(i, prefix .. "-s" .. i)
   elseif mode == "register" then
      return register_request(i, prefix .. "-r" .. i)
   elseif j % 2 == 0 then
      return cart_request(math.floor(i / 2), prefix .. "-c" .. i)
   else
      return stock_request(math.floor(i / 2), prefix .. "-s" .. i)
   end
end

function response(status, headers, body)
   answered = answered + 1
   if status >= 200 and status < 300 then
      ok = ok + 1
      local id = headers["x-request-id"]
      if id == nil and body ~= nil then
         id = string.match(body, '"ref":"([^"]*)"')
      end
      if id ~= nil then
         ok_ids[#ok_ids + 1] = id
      end
   else
      non2xx = non2xx + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      if first_error == "" and body ~= nil then
         first_error = string.sub(body, 1, 300)
      end
   end
   if answered >= max_answers then
      wrk.thread:stop()
   end
end

local function json_string(s)
   s = string.gsub(s, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. s .. '"'
end

function done(summary, latency, requests)
   local out = io.open(os.getenv("BENCH_OUT"), "w")
   local total_ok, total_non2xx, ids = 0, 0, 0
   local merged, first = {}, ""
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_non2xx = total_non2xx + thread:get("non2xx")
      for _, id in ipairs(thread:get("ok_ids")) do
         out:write(id, "\n")
         ids = ids + 1
      end
      for status, n in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + n
      end
      if first == "" then
         first = thread:get("first_error")
      end
   end
   out:close()
   local parts = {}
   for status, n in pairs(merged) do
      parts[#parts + 1] = string.format('"%s":%d', status, n)
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests":%d,"duration_us":%d,"ok":%d,"ok_ids":%d,"non2xx":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"socket_errors":%d,"statuses":{%s},"first_error":%s}\n',
      summary.requests, summary.duration, total_ok, ids, total_non2xx,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect + e.read + e.write + e.timeout, table.concat(parts, ","), json_string(first)))
end
