#!/bin/sh
# Issue #11.5: the server's resident memory while 1,000,000 requests are stored and read. Creates
# requests with wrk (bench/wrk/create.lua) in 20-second rounds until COUNT are stored, printing
# RSS after each round, then loads GET /requests/{id} and GET /requests?top=100 for 10 s each.
# Usage: bench/million.sh [COUNT, default 1000000]   (from the repository root; needs wrk)
set -eu
COUNT=${1:-1000000}
PORT=${PORT:-5400}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
command -v wrk > /dev/null || { echo "missing: wrk (apt-get install wrk)"; exit 2; }
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/ids"
build_cli "$work/build.log"
opencm="dotnet $(opencm_dll)"
$opencm init --data "$work/data" > /dev/null
$opencm serve --data "$work/data" --urls "http://127.0.0.1:$PORT" --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > "$work/server.log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$PORT" 100
pid=$(server_child "$pid")
export OPENCM_TOKEN=$($opencm token --data "$work/data" --user admin --lifetime 240)
base="http://127.0.0.1:$PORT/CertificateManagement/api/v1.0"
rss() { echo "$(( $(rss_kb "$pid") / 1024 )) MiB"; }
total=0
while [ "$total" -lt "$COUNT" ]; do
  BENCH_DIR="$work/ids" BENCH_TEMPLATE=5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60 wrk -t2 -c64 -d20s -s "$root/bench/wrk/create.lua" "$base/requests" > /dev/null
  total=$(( total + $(cat "$work"/ids/ids-*.txt | wc -l) ))
  id=$(head -1 "$work/ids/ids-0.txt")
  echo "stored $total requests, RSS $(rss)"
done
echo "GET /requests/{id}: $(wrk -t2 -c64 -d10s -H "Authorization: Bearer $OPENCM_TOKEN" "$base/requests/$id" | awk '/Requests\/sec/ { print $2 }') req/s, RSS then $(rss)"
echo "GET /requests?top=100 (the administrator reads every request): $(wrk -t2 -c64 -d10s -H "Authorization: Bearer $OPENCM_TOKEN" "$base/requests?top=100" | awk '/Requests\/sec/ { print $2 }') req/s, RSS then $(rss)"
echo "database: $(du -sh "$work/data" | cut -f1)"
