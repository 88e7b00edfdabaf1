-- POST /requests as fast as the server takes them, writing each new request's id to
-- <dir>/ids-<thread>.txt (untimed preparation for put.lua and certificatedata.lua).
-- env: OPENCM_TOKEN, BENCH_DIR, BENCH_TEMPLATE
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  ids = io.open(os.getenv("BENCH_DIR") .. "/ids-" .. id .. ".txt", "w")
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("OPENCM_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"' .. os.getenv("BENCH_TEMPLATE") .. '","comment":""}'
end

function response(status, headers, body)
  if status == 201 then
    ids:write(string.match(body, "([%x-]+)\"%s*$"), "\n")
    ids:flush()
  end
end
