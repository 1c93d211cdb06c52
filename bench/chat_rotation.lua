-- wrk script for bench/load.py: POST {"code": "1+1"} to /query/<chat> over a set of chats.
--
-- wrk args (after `--`): the bearer token, the number of threads, then the chat ids.
-- wrk runs with as many threads as connections, so each thread is one connection, and thread k
-- takes chats k, k+n, k+2n, ... in turn: no two connections ever query the same chat at once
-- (a chat runs one query at a time and answers 409 to a second, which is not what we measure).
--
-- done() prints one line, `BENCH_JSON {...}`, with the counts and the p50/p99 latency in us.
-- Errors are told apart: non-200 answers, 200s without the result "2" (wrong), and wrk's socket
-- errors (connect, read, write, timeout); the first bad answer's status and body are kept, so a
-- failed run says why without the gateway's log (which goes with the bench's temporary folder).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  local token, count = args[1], tonumber(args[2])
  paths = {}
  for i = 2 + index, #args, count do
    table.insert(paths, "/query/" .. args[i])
  end
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  body = '{"code": "1+1"}'
  turn = 0
  non200 = 0
  wrong = 0
  sample = ""
end

function request()
  turn = turn % #paths + 1
  return wrk.format("POST", paths[turn], headers, body)
end

function response(status, _, reply)
  local bad = status ~= 200 or not string.find(reply, '"result":"2"', 1, true)
  if status ~= 200 then
    non200 = non200 + 1
  elseif bad then
    wrong = wrong + 1
  end
  if bad and sample == "" then
    sample = status .. " " .. string.sub(reply, 1, 300)
  end
end

-- `s` as a JSON string (the sample is the gateway's JSON body, so quotes and backslashes).
local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, _)
  local non200_total, wrong_total, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    non200_total = non200_total + thread:get("non200")
    wrong_total = wrong_total + thread:get("wrong")
    if first == "" then
      first = thread:get("sample")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"non200": %d, "wrong": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, '
      .. '"sample": %s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    non200_total, wrong_total, e.connect, e.read, e.write, e.timeout, json_string(first)
  ))
end
