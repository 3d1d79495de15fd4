-- etcd_put.lua: wrk script for deploy/bench.sh. Each request is a put of a new key with a
-- 256-byte value through etcd's v3 JSON gateway (POST /v3/kv/put): etcd's closest match to a
-- callraft enqueue. Usage: wrk -c K -d Ns -s etcd_put.lua URL -- KEY_PREFIX
-- At the end it prints one line that deploy/bench.sh parses:
--   wrk_result requests=N errors=E duration_us=D p50_us=.. p99_us=.. p999_us=.. max_us=.. mean_us=..
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 3, 0, -1 do
      local idx = math.floor(v / 64 ^ k) % 64
      q[#q + 1] = alphabet:sub(idx + 1, idx + 1)
    end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

local thread_count = 0
function setup(thread)
  thread:set("thread_no", thread_count)
  thread_count = thread_count + 1
end

local key_prefix, counter
local value_b64 = base64(string.rep("x", 256))

function init(args)
  key_prefix = (args[1] or "bench") .. "/w" .. thread_no .. "/"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = '{"key":"' .. base64(key_prefix .. counter) .. '","value":"' .. value_b64 .. '"}'
  return wrk.format(nil, "/v3/kv/put", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk_result requests=%d errors=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
