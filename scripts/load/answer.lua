-- wrk script for scripts/load.sh: POST /v1/answer with a question mix, new conversation each time.
-- MIX=kb rotates a few knowledge-base questions (as a store's traffic repeats itself, so the
-- vector cache serves them); MIX=order sends a complete, verified order-status question.
local mix = os.getenv("MIX") or "kb"
local kb = {
  "How long does standard shipping take?",
  "what payment methods do you accept",
  "can I return a final sale item?",
  "is there a fee to cancel my order",
  "how do I reset my password",
  "do you ship to Canada?",
  "how long do refunds take",
  "how do I wash linen sheets",
}
local order = "Where is my order LF-100001? My email is maya.chen@example.com"
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  i = i + 1
  local m = order
  if mix == "kb" then m = kb[(i % #kb) + 1] end
  return wrk.format(nil, "/v1/answer", nil, '{"message":"' .. m .. '"}')
end

done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    "RESULT mix=%s answers=%d rate=%.0f/s p50=%.1fms p99=%.1fms errors=%d non200=%d\n",
    -- errors.status counts the responses that were not 2xx/3xx (503s when shedding): only
    -- answers count towards the rate.
    mix, summary.requests - summary.errors.status, (summary.requests - summary.errors.status) / s,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    summary.errors.status))
end
