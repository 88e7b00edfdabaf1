#!/bin/sh
# A/B of the durable paths for two builds of OpenCM, alternating (the box's speed drifts within
# minutes; compare within a round): PUT /requests/{id} Canceled at 64 connections and POST
# certificatedata at 16, each over requests created beforehand (untimed), with the server's CPU
# per request (user + system, from /proc) and how busy both cores were.
# Usage: bench/ab-writes.sh BEFORE_DIR AFTER_DIR [rounds, default 2], each a checkout with
#   dotnet build -c Release src/OpenCM.Cli   done (e.g. git worktree add /tmp/before <commit>).
# Env: CA (EcdsaP256; EcdsaP384 for the P-384 row), DATA_UNDER_CWD=yes (the data directory under
#   the server's working directory, as `serve`'s default ./opencm-data is).
set -eu
BEFORE=${1:?a checkout built in Release}
AFTER=${2:?a checkout built in Release}
ROUNDS=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=bench -outform DER 2>/dev/null | base64 -w0 > /tmp/ab-writes-csr.b64
export BENCH_CSR=$(cat /tmp/ab-writes-csr.b64)
busy() { awk '/^cpu / { print $2 + $3 + $4, $5 }' /proc/stat; }
measure() { # pid wrk-args… → "N/s, C µs CPU (S system) per request"
  pid=$1; shift
  set -- $(awk '{ print $14, $15 }' "/proc/$pid/stat") "$@"; u0=$1; s0=$2; shift 2
  out=$(wrk "$@" 2>/dev/null)
  set -- $(awk '{ print $14, $15 }' "/proc/$pid/stat"); u1=$1; s1=$2
  echo "$out" | awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ { n = $1 } /Requests\/sec/ { r = $2 }
    END { printf "%d/s, %.0f µs CPU (%.0f system) a request", r, (u + s) / hz * 1e6 / n, s / hz * 1e6 / n }'
}
run() { # label checkout
  opencm="dotnet $(opencm_dll "$2")"
  w=$(mktemp -d)
  data="$w/opencm-data"
  if [ "${DATA_UNDER_CWD:-no}" = yes ]; then cd "$w"; else cd /; fi
  Ca__KeyAlgorithm=${CA:-EcdsaP256} $opencm init --data "$data" > /dev/null
  $opencm templates import --data "$data" "$root/bench/templates/p256-user-certificate.yaml" > /dev/null
  $opencm serve --data "$data" --urls http://127.0.0.1:5310 --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > "$w/server.log" 2>&1 &
  pid=$!
  wait_ready http://127.0.0.1:5310 100
  pid=$(server_child "$pid")
  export OPENCM_TOKEN=$($opencm token --data "$data" --user admin --lifetime 60)
  base=http://127.0.0.1:5310/CertificateManagement/api/v1.0
  mkdir -p "$w/warm" "$w/put" "$w/issue"
  BENCH_DIR="$w/warm" BENCH_TEMPLATE=3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d wrk -t2 -c64 -d3s -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
  BENCH_DIR="$w/warm" BENCH_MODE=certificatedata wrk -t2 -c16 -d4s -s "$root/bench/wrk/walk.lua" "$base/requests" > /dev/null 2>&1 || true
  BENCH_DIR="$w/put" BENCH_TEMPLATE=5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60 wrk -t2 -c64 -d8s -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
  put=$(BENCH_DIR="$w/put" BENCH_MODE=put measure $pid -t2 -c64 -d6s -s "$root/bench/wrk/walk.lua" "$base/requests")
  BENCH_DIR="$w/issue" BENCH_TEMPLATE=3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d wrk -t2 -c64 -d8s -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
  b0=$(busy)
  issue=$(BENCH_DIR="$w/issue" BENCH_MODE=certificatedata measure $pid -t2 -c16 -d8s -s "$root/bench/wrk/walk.lua" "$base/requests")
  b1=$(busy)
  echo "$1: PUT $put; certificatedata $issue, cores $(echo "$b0 $b1" | awk '{ b = $3 - $1; i = $4 - $2; printf "%d", 100 * b / (b + i) }') % busy"
  kill $pid; wait $pid 2>/dev/null || true
  cd /; rm -rf "$w"
}
for round in $(seq 1 "$ROUNDS"); do
  run before "$BEFORE"
  run after "$AFTER"
done
