-- wrk script: method, path and body come from the environment, with the bearer token.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Notion-Version"] = "2025-09-03"
wrk.headers["Content-Type"] = "application/json"

local failures = 0
response = function(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end

done = function(summary, latency, requests)
  -- Machine-readable last lines: microseconds.
  io.write(string.format("BENCH p50_us=%d p99_us=%d requests=%d seconds=%.2f errors=%d non200=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, failures))
end
