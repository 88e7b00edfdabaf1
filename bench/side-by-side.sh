#!/bin/sh
# Issue #11: the headline table in one run, wrk the only load generator, server and wrk on this
# machine, ratios taken within the run (the box's speed moves 2-3x between days):
#   GET /me (the ceiling), GET /requests/{id}, PUT /requests/{id} Canceled (durable, each request
#   once), POST certificatedata with a P-256 CA and CSR at 16 connections against cfssl's
#   /api/v1/cfssl/sign with a P-256 CA, and the same pair again with a P-384 CA on both sides
#   (a second OpenCM data directory and a second cfssl; the CSR stays P-256). Each row also
#   shows the CPU (user + system, from /proc) the server under load spent per request: where
#   the time goes, per request, without a profiler. Every timed scenario, OpenCM's and cfssl's,
#   follows an untimed warm-up of the same kind (on requests of its own where each is used once).
# Usage: bench/side-by-side.sh [seconds per scenario, default 10]   (from the repository root)
# Env: PORT (5100), CFSSL_PORT (8888), CREATE_SECONDS (untimed preparation, default 2x seconds),
#      ISSUE_CONNECTIONS (16: the issue's table; more to see whether issuance waits or computes),
#      ONLY=issue (skip the GET and PUT scenarios), P384=no (skip the P-384 pair).
set -eu
DURATION=${1:-10}
PORT=${PORT:-5100}
CFSSL_PORT=${CFSSL_PORT:-8888}
CREATE_SECONDS=${CREATE_SECONDS:-$((DURATION * 2))}
ISSUE_CONNECTIONS=${ISSUE_CONNECTIONS:-16}
ONLY=${ONLY:-}
P384=${P384:-yes}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"

# 0. What this needs; nothing is installed silently.
missing=""
for tool in wrk:wrk cfssl:golang-cfssl cfssljson:golang-cfssl openssl:openssl curl:curl dotnet:dotnet-sdk; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
  echo "missing:$missing"
  echo "install with: apt-get install$(echo "$missing" | tr ' ' '\n' | grep -v dotnet-sdk | sort -u | tr '\n' ' ')"
  exit 2
fi

work=$(mktemp -d)
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# wrk's Requests/sec and 99th percentile (ms) from its --latency report.
rate() { awk '/Requests\/sec/ { printf "%d", $2 }' "$1"; }
p99() {
  awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' "$1"
}
non2xx() { awk '/Non-2xx/ { n = $NF } END { printf "%d", n }' "$1"; }
# run_wrk charges the CPU (user + system) the server under load used to the scenario, per request.
measured_pid="" # the server under load: OpenCM, or cfssl for its rows
run_wrk() { # name connections script-or-empty url [extra args…]
  name=$1; conns=$2; script=$3; url=$4; shift 4
  out="$work/$name.txt"
  before=$(cpu_ticks "$measured_pid")
  if [ -n "$script" ]; then
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency -s "$script" "$@" "$url" > "$out" 2>"$work/$name.err" || true
  else
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency "$@" "$url" > "$out" 2>"$work/$name.err" || true
  fi
  after=$(cpu_ticks "$measured_pid")
  us_per_request $((after - before)) "$out" > "$work/$name.cpu"
}

# 1. OpenCM, Release, on a fresh data directory per CA: the P-256 benchmark template in each.
echo "building OpenCM (Release)…"
build_cli "$work/build.log"
opencm="dotnet $(opencm_dll)"
start_opencm() { # name CA-key-algorithm port; sets server_pid
  Ca__KeyAlgorithm=$2 $opencm init --data "$work/$1" > /dev/null
  $opencm templates import --data "$work/$1" "$root/bench/templates/p256-user-certificate.yaml" > /dev/null
  $opencm serve --data "$work/$1" --urls "http://127.0.0.1:$3" --Logging:LogLevel:Default=Warning \
    --RateLimits:Enabled=false > "$work/$1.log" 2>&1 &
  server_pid=$!
  pids="$pids $server_pid"
  wait_ready "http://127.0.0.1:$3" 100
  # Measure the server itself, not `opencm serve` (decision 0009).
  server_pid=$(server_child "$server_pid")
  pids="$pids $server_pid"
}
start_opencm data EcdsaP256 "$PORT"
p256_pid=$server_pid
measured_pid=$server_pid
base="http://127.0.0.1:$PORT/CertificateManagement/api/v1.0"
export OPENCM_TOKEN=$($opencm token --data "$work/data" --user admin --lifetime 120)
auth="Authorization: Bearer $OPENCM_TOKEN"

# 2. cfssl beside it, with a CA of the same key.
start_cfssl() { # name ecdsa-size port
  mkdir -p "$work/$1"
  (
    cd "$work/$1"
    echo "{\"CN\":\"cfssl bench CA\",\"key\":{\"algo\":\"ecdsa\",\"size\":$2}}" | cfssl gencert -initca - 2>/dev/null | cfssljson -bare ca
    echo '{"signing":{"default":{"expiry":"8760h","usages":["digital signature","client auth"]}}}' > config.json
  )
  cfssl serve -address 127.0.0.1 -port "$3" -ca "$work/$1/ca.pem" -ca-key "$work/$1/ca-key.pem" -config "$work/$1/config.json" > "$work/$1.log" 2>&1 &
  cfssl_pid=$!
  pids="$pids $cfssl_pid"
}
start_cfssl cfssl-p256 256 "$CFSSL_PORT"
p256_cfssl_pid=$cfssl_pid

# 3. One P-256 CSR for every certificate (as a client would send it, base64 DER; PEM for cfssl).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/csr.key" -subj /CN=bench -out "$work/csr.pem" 2>/dev/null
export BENCH_CSR=$(openssl req -in "$work/csr.pem" -outform DER | base64 -w0)
export BENCH_CSR_JSON=$(awk 'BEGIN { printf "\"" } { printf "%s\\n", $0 } END { printf "\"" }' "$work/csr.pem")

# 4. Warm-up (JIT, caches), untimed.
echo "warming up…"
wrk -t2 -c64 -d5s -H "$auth" "$base/me" > /dev/null
id=$(curl -fs -X POST -H "$auth" -H 'Content-Type: application/json' \
  -d '{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}' "$base/requests" | tr -d '"' | sed 's|.*/||')
wrk -t2 -c64 -d5s -H "$auth" "$base/requests/$id" > /dev/null

# 5. The timed scenarios, one after the other.
echo "GET /me, GET /requests/{id}…"
run_wrk me 64 "" "$base/me" -H "$auth"
run_wrk get 64 "" "$base/requests/$id" -H "$auth"

if [ "$ONLY" != issue ]; then
  echo "preparing Approved requests for PUT (${CREATE_SECONDS}s, untimed)…"
  mkdir -p "$work/put"
  BENCH_DIR="$work/put" BENCH_TEMPLATE=5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60 \
    wrk -t2 -c64 -d"${CREATE_SECONDS}s" -s "$root/bench/wrk/create.lua" "$base/requests" > "$work/create-put.txt"
  prepared_put=$(cat "$work"/put/ids-*.txt | wc -l)
  mkdir -p "$work/warm-put" # a warm-up on requests of its own, untimed
  BENCH_DIR="$work/warm-put" BENCH_TEMPLATE=5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60 \
    wrk -t2 -c64 -d3s -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
  BENCH_DIR="$work/warm-put" BENCH_MODE=put wrk -t2 -c64 -d5s -s "$root/bench/wrk/walk.lua" "$base/requests" > /dev/null 2>&1 || true
  echo "PUT /requests/{id} Canceled over $prepared_put requests…"
  BENCH_DIR="$work/put" BENCH_MODE=put run_wrk put 64 "$root/bench/wrk/walk.lua" "$base/requests"
fi

# certificatedata over requests prepared beforehand (untimed), then cfssl's sign with a CA of the same key.
issue_pair() { # name opencm-base cfssl-port opencm-pid cfssl-pid
  echo "preparing Approved P-256 requests for certificatedata, $1 (${CREATE_SECONDS}s, untimed)…"
  mkdir -p "$work/ids-$1"
  BENCH_DIR="$work/ids-$1" BENCH_TEMPLATE=3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d \
    wrk -t2 -c64 -d"${CREATE_SECONDS}s" -s "$root/bench/wrk/create.lua" "$2/requests" > "$work/create-$1.txt"
  # Warm-up on requests of its own (untimed), as cfssl gets below: the JIT's tiering of this path
  # would otherwise be charged to the first seconds of the timed run.
  mkdir -p "$work/warm-$1"
  BENCH_DIR="$work/warm-$1" BENCH_TEMPLATE=3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d \
    wrk -t2 -c64 -d3s -s "$root/bench/wrk/create.lua" "$2/requests" > /dev/null
  BENCH_DIR="$work/warm-$1" BENCH_MODE=certificatedata \
    wrk -t2 -c"$ISSUE_CONNECTIONS" -d5s -s "$root/bench/wrk/walk.lua" "$2/requests" > /dev/null 2>&1 || true
  echo "POST certificatedata, $1 ($ISSUE_CONNECTIONS connections)…"
  cpu_before=$(awk '/^cpu / { print $2 + $3 + $4, $5 }' /proc/stat)
  measured_pid=$4
  BENCH_DIR="$work/ids-$1" BENCH_MODE=certificatedata run_wrk "issue-$1" "$ISSUE_CONNECTIONS" "$root/bench/wrk/walk.lua" "$2/requests"
  cpu_after=$(awk '/^cpu / { print $2 + $3 + $4, $5 }' /proc/stat)
  echo "$cpu_before $cpu_after" | awk '{ busy = $3 - $1; idle = $4 - $2; printf "%d", 100 * busy / (busy + idle) }' > "$work/busy-$1.txt"
  echo "cfssl sign, $1 (16 connections)…"
  wrk -t2 -c16 -d5s -s "$root/bench/wrk/cfssl-sign.lua" "http://127.0.0.1:$3/api/v1/cfssl/sign" > /dev/null
  measured_pid=$5
  run_wrk "cfssl-$1" 16 "$root/bench/wrk/cfssl-sign.lua" "http://127.0.0.1:$3/api/v1/cfssl/sign"
}
issue_pair p256 "$base" "$CFSSL_PORT" "$p256_pid" "$p256_cfssl_pid"
rss=$(rss_kb "$p256_pid")

if [ "$P384" != no ]; then
  # The same pair with P-384 CAs: a second OpenCM (its own data directory and token) and a second cfssl.
  kill "$p256_pid" 2>/dev/null || true
  start_opencm data-p384 EcdsaP384 "$((PORT + 1))"
  start_cfssl cfssl-p384 384 "$((CFSSL_PORT + 1))"
  export OPENCM_TOKEN=$($opencm token --data "$work/data-p384" --user admin --lifetime 120)
  p384_base="http://127.0.0.1:$((PORT + 1))/CertificateManagement/api/v1.0"
  wrk -t2 -c64 -d5s -H "Authorization: Bearer $OPENCM_TOKEN" "$p384_base/me" > /dev/null
  issue_pair p384 "$p384_base" "$((CFSSL_PORT + 1))" "$server_pid" "$cfssl_pid"
fi

# 6. The table, ratios within this run.
me=$(rate "$work/me.txt")
echo
echo "$(date -u +%Y-%m-%d) $(nproc) cores, ${DURATION}s per scenario, wrk -t2; OpenCM $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| scenario | connections | req/s | p99 ms | non-2xx | server CPU µs/request | ratio | goal |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
row() { # name file conns base goal
  r=$(rate "$2")
  echo "| $1 | $3 | $r | $(p99 "$2") | $(non2xx "$2") | $(cat "${2%.txt}.cpu") | $(awk -v a="$r" -v b="$4" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }') | $5 |"
}
row "GET /me (the ceiling)" "$work/me.txt" 64 "$me" "-"
row "GET /requests/{id}" "$work/get.txt" 64 "$me" ">= 0.80 of /me"
[ "$ONLY" = issue ] || row "PUT /requests/{id} Canceled (durable, audited)" "$work/put.txt" 64 "$me" ">= 0.50 of /me, p99 < 10 ms"
for ca in p256 p384; do
  [ -s "$work/issue-$ca.txt" ] || continue
  CA=$(echo "$ca" | tr p P | sed 's/P/P-/')
  cfssl=$(rate "$work/cfssl-$ca.txt")
  row "POST certificatedata, $CA CA, P-256 CSR (durable, audited)" "$work/issue-$ca.txt" "$ISSUE_CONNECTIONS" "$cfssl" ">= 1.0 of cfssl"
  row "cfssl serve /api/v1/cfssl/sign, $CA CA (stores nothing)" "$work/cfssl-$ca.txt" 16 "$cfssl" "-"
done
echo
echo "OpenCM server resident memory after the P-256 runs: $((rss / 1024)) MiB; both cores busy $(cat "$work/busy-p256.txt")% of the P-256 certificatedata run"
for f in put issue-p256 issue-p384; do [ -s "$work/$f.err" ] && { echo "$f: first refusals:"; head -3 "$work/$f.err"; } || true; done
