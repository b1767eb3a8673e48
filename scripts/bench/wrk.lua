-- wrk script for scripts/bench/http. Configured through the environment:
--   BENCH_METHOD, BENCH_BODY, BENCH_ORIGIN      the request (GET without a body by default)
--   BENCH_COOKIES                              a file of session tokens, one a line: requests go
--                                              round-robin over them as `raptor_session` cookies
--                                              (each thread starts at its own offset)
--   BENCH_STATUSES                             set: count answers per status (slows wrk a little)
-- done() prints one JSON line: requests, seconds, p50/p99 in ms, socket errors, statuses.

local cookies = {}
local next_cookie = 1
-- Global, so done() can read each thread's counts with thread:get.
statuses = {}
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("offset", thread_count)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  wrk.body = os.getenv("BENCH_BODY")
  if wrk.body then
    wrk.headers["Content-Type"] = "application/json"
  end
  local origin = os.getenv("BENCH_ORIGIN")
  if origin then
    wrk.headers["Origin"] = origin
  end
  local path = os.getenv("BENCH_COOKIES")
  if path then
    for line in io.lines(path) do
      if line ~= "" then
        table.insert(cookies, "raptor_session=" .. line)
      end
    end
    next_cookie = ((offset or 1) - 1) * math.floor(#cookies / 2) % #cookies + 1
  end
end

function request()
  if #cookies == 0 then
    return wrk.format()
  end
  wrk.headers["Cookie"] = cookies[next_cookie]
  next_cookie = next_cookie % #cookies + 1
  return wrk.format()
end

if os.getenv("BENCH_STATUSES") then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses") or {}
    for status, n in pairs(seen) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, "non_2xx": %d, ' ..
    '"socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout,
    table.concat(parts, ", ")))
end
