-- GET /requests/{id} over ids picked at random from <BENCH_DIR>/get-ids.txt (bench/scale.sh: a
-- sample of every seeded request), so that the reads touch the whole table, not one hot row.
-- env: OPENCM_TOKEN, BENCH_DIR
function init(args)
  ids = {}
  for line in io.lines(os.getenv("BENCH_DIR") .. "/get-ids.txt") do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring(ids):match("0x(%x+)") or "0", 16) % 100000)
  headers = { ["Authorization"] = "Bearer " .. os.getenv("OPENCM_TOKEN") }
  failures = 0
end

function request()
  return wrk.format("GET", "/CertificateManagement/api/v1.0/requests/" .. ids[math.random(#ids)], headers)
end

function response(status, headers, body)
  if status ~= 200 and failures < 3 then
    failures = failures + 1
    io.stderr:write("answer " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
  end
end
