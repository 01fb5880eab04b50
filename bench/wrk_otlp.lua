-- wrk script for bench/bench_collector.py: POSTs pre-encoded OTLP/HTTP protobuf bodies, rotating through the files
-- body-0.bin, body-1.bin, ... in the directory given after `--`:
--
--     wrk -t1 -c8 -d20s -s bench/wrk_otlp.lua http://127.0.0.1:4318/v1/traces -- /tmp/bodies
--
-- The requests are formatted once, at init, so each one costs wrk a table lookup. At the end it prints one line the
-- benchmark reads: "otlp-result requests=N duration_us=N non2xx=N connect=N read=N write=N timeout=N".

local requests = {}
local next_index = 0

function init(args)
  local dir = args[1]
  if dir == nil then
    error("wrk_otlp.lua: give the directory of body-N.bin files after --")
  end
  local i = 0
  while true do
    local f = io.open(dir .. "/body-" .. i .. ".bin", "rb")
    if f == nil then
      break
    end
    local body = f:read("*a")
    f:close()
    requests[#requests + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/x-protobuf" }, body)
    i = i + 1
  end
  if #requests == 0 then
    error("wrk_otlp.lua: no body-0.bin in " .. dir)
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format("otlp-result requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout))
end
