-- wrk script: one custom event per POST /api/{store}/customEvent, unique eventIds, members of bench/workload.py.
-- Env: BENCH_RUN (eventId prefix), BENCH_DATE (eventDate), BENCH_MEMBERS (member count), BENCH_BATCH (events per
-- request; >1 posts {"events": [...]} to /customEvent/batch).
local run, date = os.getenv("BENCH_RUN"), os.getenv("BENCH_DATE")
local members, batch = tonumber(os.getenv("BENCH_MEMBERS")), tonumber(os.getenv("BENCH_BATCH") or "1")
local keys = { DEFAULT = "dev-key", OTHER = "other-key" }
local threads, counter = {}, 0
failed = 0  -- global: done() reads it from every thread
local ids = 0

function setup(thread)
  ids = ids + 1
  thread:set("tid", ids)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tid)
end

local function event(m)
  counter = counter + 1
  local kind = counter % 3
  local body = "{}"
  local type = "app_login"
  if kind == 1 then
    type, body = "workout", string.format('{"minutes":%d,"kind":"run"}', 10 + m % 80)
  elseif kind == 2 then
    type, body = "order", string.format('{"amount":%d.5,"channel":"web"}', 5 + m % 190)
  end
  return string.format('{"type":"%s","eventDate":"%s","eventId":"%s-%d-%d","customerData":{"email":"member%d@bench.example"},"body":%s}',
    type, date, run, tid, counter, m, body)
end

function request()
  local store = (math.random(2) == 1) and "DEFAULT" or "OTHER"
  local first = (store == "DEFAULT") and 0 or 1  -- member i belongs to store i % 2
  local headers = { ["Content-Type"] = "application/json", ["X-AUTH-TOKEN"] = keys[store] }
  if batch <= 1 then
    local m = 2 * math.random(0, members / 2 - 1) + first
    return wrk.format("POST", "/api/" .. store .. "/customEvent", headers, '{"event":' .. event(m) .. '}')
  end
  local items = {}
  for i = 1, batch do
    items[i] = event(2 * math.random(0, members / 2 - 1) + first)
  end
  return wrk.format("POST", "/api/" .. store .. "/customEvent/batch", headers, '{"events":[' .. table.concat(items, ",") .. ']}')
end

if batch > 1 then  -- only then: a response() makes wrk keep every body
  function response(status, headers, body)
    if status == 200 and string.find(body, '"errors"', 1, true) then
      failed = failed + 1
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failed")
  end
  io.write(string.format("batches with failed events: %d\n", total))
end
