#!/bin/sh
# Issue #25: where one request kind's time goes, under the same wrk load as bench/side-by-side.sh.
# Starts a Release `opencm serve` on a fresh data directory (SQLite, or with PG=yes a throwaway
# PostgreSQL cluster from Debian's packages), warms it up, then profiles the server while wrk
# drives one scenario:
#   me    GET /me (64 connections)              get    GET /requests/{id} (64)
#   put   PUT /requests/{id} Canceled, each request once (64)
#   issue POST certificatedata, P-256 CA and CSR (16)
# with one of these tools (TOOL):
#   perf    perf record -g (frame pointers): CPU by DSO and symbol, JIT frames named through the
#           runtime's perf map (DOTNET_PerfMapEnabled, W^X off so perf can read JIT code)
#   dwarf   perf record --call-graph dwarf: native callers inside OpenSSL/SQLite up to .NET's shim
#   trace   dotnet-trace's sampled thread time (speedscope): the .NET stack above every native
#           call; summarise it with bench/profile-summary.py
#   strace  strace -c: system calls per request (divide by wrk's request count)
#   cpu     the server's CPU (user + system) per request, from /proc, and nothing else
# Usage: bench/profile.sh SCENARIO [TOOL, default perf]   (from the repository root; as root for perf/strace)
# Env: SECONDS_ (profiled seconds, default 8), PORT (5300), PG=yes, OUT (default a fresh temp
#      dir, kept and printed), SERVE_ENV ("NAME=VALUE ..." for the server's environment, e.g. a
#      runtime knob to try), CLI (an opencm.dll to run instead of building this checkout).
# Profiles under load show proportions, not speeds: quote shares, and take rates from
# bench/side-by-side.sh on a quiet box (docs/benchmarks.md).
set -eu
SCENARIO=${1:?usage: bench/profile.sh me|get|put|issue [perf|dwarf|trace|strace|cpu]}
TOOL=${2:-perf}
D=${SECONDS_:-8}
PORT=${PORT:-5300}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

need() { command -v "$1" > /dev/null 2>&1 || { echo "missing: $1 ($2)"; exit 2; }; }
need wrk "apt-get install wrk"; need curl "apt-get install curl"; need openssl "apt-get install openssl"
case $TOOL in
  perf|dwarf) need perf "apt-get install linux-perf" ;;
  strace) need strace "apt-get install strace" ;;
  trace) [ -x "$HOME/.dotnet/tools/dotnet-trace" ] || command -v dotnet-trace > /dev/null 2>&1 || { echo "missing: dotnet-trace (dotnet tool install -g dotnet-trace)"; exit 2; } ;;
  cpu) ;;
  *) echo "unknown tool $TOOL"; exit 2 ;;
esac
trace_tool=$(command -v dotnet-trace 2>/dev/null || echo "$HOME/.dotnet/tools/dotnet-trace")

if [ -z "${CLI:-}" ]; then
  build_cli "$out/build.log"
  CLI=$(opencm_dll)
fi
opencm="dotnet $CLI"
server_pid=""; pg=""
cleanup() {
  [ -z "$server_pid" ] || { pkill -P "$server_pid" 2>/dev/null || true; kill "$server_pid" 2>/dev/null || true; }
  [ -z "$pg" ] || runuser -u postgres -- "$pg/pg_ctl" -D "$out/pg/data" -m immediate stop > /dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

# 1. The store: SQLite in the data directory, or a PostgreSQL cluster of its own.
set --
if [ "${PG:-}" = yes ]; then
  pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$out/pg"; chown postgres "$out/pg"; chmod 755 "$out"
  pg_port=$((PORT + 50))
  runuser -u postgres -- "$pg/initdb" -D "$out/pg/data" -U opencm --auth=trust -E UTF8 --locale=C > /dev/null
  runuser -u postgres -- "$pg/pg_ctl" -D "$out/pg/data" -l "$out/pg/log" -w \
    -o "-p $pg_port -k $out/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start > /dev/null
  runuser -u postgres -- "$pg/psql" -h 127.0.0.1 -p "$pg_port" -U opencm -d postgres -qc 'CREATE DATABASE bench'
  set -- --database postgres --connection "Host=127.0.0.1;Port=$pg_port;Database=bench;Username=opencm" --Ca:PublicUrl="http://127.0.0.1:$PORT"
fi

# 2. The server, with the perf map on (harmless for the other tools).
Ca__KeyAlgorithm=EcdsaP256 $opencm init --data "$out/data" "$@" > /dev/null
$opencm templates import --data "$out/data" "$@" "$root/bench/templates/p256-user-certificate.yaml" > /dev/null
# shellcheck disable=SC2086 # SERVE_ENV is a list of NAME=VALUE words
env ${SERVE_ENV:-} DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  $opencm serve --data "$out/data" "$@" --urls "http://127.0.0.1:$PORT" --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > "$out/server.log" 2>&1 &
server_pid=$!
wait_ready "http://127.0.0.1:$PORT"
curl -fs "http://127.0.0.1:$PORT/health/ready" > /dev/null || { cat "$out/server.log"; exit 1; }
pid=$(server_child "$server_pid")
base="http://127.0.0.1:$PORT/CertificateManagement/api/v1.0"
export OPENCM_TOKEN=$($opencm token --data "$out/data" "$@" --user admin --lifetime 120)
auth="Authorization: Bearer $OPENCM_TOKEN"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/csr.key" -subj /CN=bench -out "$out/csr.pem" 2>/dev/null
export BENCH_CSR=$(openssl req -in "$out/csr.pem" -outform DER | base64 -w0)

# 3. Warm-up, untimed, and what the scenario runs over.
wrk -t2 -c64 -d4s -H "$auth" "$base/me" > /dev/null
case $SCENARIO in
  me) run() { wrk -t2 -c64 -d"${D}s" -H "$auth" "$base/me"; } ;;
  get)
    id=$(curl -fs -X POST -H "$auth" -H 'Content-Type: application/json' \
      -d '{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}' "$base/requests" | tr -d '"' | sed 's|.*/||')
    run() { wrk -t2 -c64 -d"${D}s" -H "$auth" "$base/requests/$id"; } ;;
  put|issue)
    template=5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60; mode=put; conns=64
    [ "$SCENARIO" = put ] || { template=3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d; mode=certificatedata; conns=16; }
    mkdir -p "$out/ids" "$out/warm"
    BENCH_DIR="$out/ids" BENCH_TEMPLATE=$template wrk -t2 -c64 -d"$((D * 2))s" -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
    BENCH_DIR="$out/warm" BENCH_TEMPLATE=$template wrk -t2 -c64 -d3s -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
    run() { BENCH_DIR="$out/$1" BENCH_MODE=$mode wrk -t2 -c"$conns" -d"$2s" -s "$root/bench/wrk/walk.lua" "$base/requests"; } ;;
  *) echo "unknown scenario $SCENARIO"; exit 2 ;;
esac
case $SCENARIO in put|issue) run warm 5 > /dev/null 2>&1 || true ;; *) run > /dev/null ;; esac
case $SCENARIO in put|issue) timed() { run ids "$D"; } ;; *) timed() { run; } ;; esac

# 4. The tool beside the timed load.
before=$(cpu_ticks "$pid")
tool_pid=""
case $TOOL in
  perf) perf record -F 999 -g -p "$pid" -o "$out/perf.data" -- sleep "$D" 2> /dev/null & tool_pid=$! ;;
  dwarf) perf record -F 499 --call-graph dwarf,16384 -p "$pid" -o "$out/perf.data" -- sleep "$D" 2> /dev/null & tool_pid=$! ;;
  trace) "$trace_tool" collect -p "$pid" --profile dotnet-sampled-thread-time --duration "00:00:00:$D" -o "$out/trace.nettrace" --format speedscope > "$out/trace.log" 2>&1 & tool_pid=$! ;;
  strace) timeout -s INT "$D" strace -c -f -p "$pid" -o "$out/strace.txt" & tool_pid=$! ;;
esac
timed > "$out/wrk.txt" 2>&1 || true
after=$(cpu_ticks "$pid")
[ -z "$tool_pid" ] || wait "$tool_pid" 2> /dev/null || true
requests=$(awk '/requests in/ { print $1 }' "$out/wrk.txt")
echo "$SCENARIO: $(awk '/Requests\/sec/ { print $2 }' "$out/wrk.txt") req/s, $requests requests; server CPU $(us_per_request $((after - before)) "$out/wrk.txt") µs/request"

# 5. What to read.
case $TOOL in
  perf|dwarf)
    cp "/tmp/perf-$pid.map" "$out/" 2> /dev/null || true
    perf report -i "$out/perf.data" --no-children --sort dso -q -g none 2> /dev/null | head -15 > "$out/by-dso.txt"
    perf report -i "$out/perf.data" --no-children --sort sym -q -g none 2> /dev/null | head -60 > "$out/by-symbol.txt"
    perf report -i "$out/perf.data" --children --sort dso,sym -q -g none 2> /dev/null | head -200 > "$out/inclusive.txt"
    echo "read: $out/by-dso.txt, by-symbol.txt, inclusive.txt (perf report -i $out/perf.data for more)" ;;
  trace) echo "read: python3 bench/profile-summary.py $out/trace.speedscope.json [REGEX]" ;;
  strace) echo "system calls over $requests requests:"; head -15 "$out/strace.txt" ;;
  cpu) ;;
esac
