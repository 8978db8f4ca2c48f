-- wrk script for the messaging benchmark's saturation phase (ops/bench/HotlineBench, MessagingBench).
-- Every request is a different inbound SMS webhook, signed beforehand as Twilio signs it: HotlineBench
-- writes them to WSR_WRK_REQUESTS, one per line, "<X-Twilio-Signature>\t<form body>". Each wrk thread
-- keeps the lines whose number modulo WSR_WRK_THREADS is its own, so no two requests repeat a
-- MessageSid; a thread that runs out starts over and counts it (reported as "wrapped": the file was too
-- short, and the run is not valid, as a repeated MessageSid stores nothing new).

local path = "/twilio/messaging/incoming"
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(os.getenv("WSR_WRK_THREADS"))
  requests = {}
  local line_number = 0
  for line in io.lines(os.getenv("WSR_WRK_REQUESTS")) do
    if line_number % count == id then
      local signature, body = line:match("^([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["X-Twilio-Signature"] = signature,
        ["Content-Type"] = "application/x-www-form-urlencoded",
      }, body)
    end
    line_number = line_number + 1
  end
  position = 0
  wrapped = 0
end

function request()
  position = position + 1
  if position > #requests then
    position = 1
    wrapped = wrapped + 1
  end
  return requests[position]
end

-- One line for HotlineBench to read.
function done(summary, latency, _)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + thread:get("wrapped")
  end
  local errors = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d non_2xx=%d socket_errors=%d timeouts=%d p50_us=%d p99_us=%d wrapped=%d\n",
    summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99), wraps))
end
