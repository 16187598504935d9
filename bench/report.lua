-- Shared by every scenario: prints one JSON line with the run's figures.
-- wrk counts a response with status >= 400 as a status error (non-2xx here,
-- since tessera answers no 3xx on these routes).
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"scenario":"%s","requests":%d,"seconds":%.2f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"non_2xx":%d,"socket_errors":%d}\n',
    os.getenv("BENCH_SCENARIO") or "?", summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
