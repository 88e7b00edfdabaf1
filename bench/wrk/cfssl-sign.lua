-- POST /api/v1/cfssl/sign with one PEM CSR (env BENCH_CSR_JSON: the PEM as a JSON string).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"certificate_request":' .. os.getenv("BENCH_CSR_JSON") .. '}'
