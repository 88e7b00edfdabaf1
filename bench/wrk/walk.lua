-- Sends one request per prepared id, each id once (<dir>/ids-<thread>.txt from create.lua), and
-- stops the thread when its ids run out. BENCH_MODE=put: PUT /requests/{id} Canceled;
-- BENCH_MODE=certificatedata: POST /requests/{id}/certificatedata with BENCH_CSR (base64 DER).
-- env: OPENCM_TOKEN, BENCH_DIR, BENCH_MODE, BENCH_CSR
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  queue = {}
  for line in io.lines(os.getenv("BENCH_DIR") .. "/ids-" .. id .. ".txt") do
    queue[#queue + 1] = line
  end
  next_index = 1
  mode = os.getenv("BENCH_MODE")
  headers = { ["Authorization"] = "Bearer " .. os.getenv("OPENCM_TOKEN"), ["Content-Type"] = "application/json" }
  if mode == "put" then
    body = '{"status":"Canceled"}'
  else
    body = '{"pfxpassword":"","certificaterequests":["' .. os.getenv("BENCH_CSR") .. '"]}'
  end
  failures = 0
end

function request()
  local rid = queue[next_index]
  if rid == nil then
    -- Out of ids: stop; what the connection still sends is a no-op, not a second use of an id.
    wrk.thread:stop()
    return wrk.format("GET", "/CertificateManagement/api/v1.0/me", headers)
  end
  next_index = next_index + 1
  local path = "/CertificateManagement/api/v1.0/requests/" .. rid
  if mode == "put" then
    return wrk.format("PUT", path, headers, body)
  end
  return wrk.format("POST", path .. "/certificatedata", headers, body)
end

function response(status, headers, body)
  if status >= 400 and failures < 3 then
    failures = failures + 1
    io.stderr:write("answer " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
  end
end
