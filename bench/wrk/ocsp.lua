-- POST /CertificateManagement/ocsp with one fixed DER OCSPRequest (env BENCH_OCSP_REQUEST: its file).
local f = assert(io.open(os.getenv("BENCH_OCSP_REQUEST"), "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/ocsp-request"
wrk.body = f:read("*all")
f:close()
