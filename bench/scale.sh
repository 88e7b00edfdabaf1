#!/bin/sh
# Issue #25, the scale goal: GET /requests/{id}, a list page of 100 and PUT Canceled at COUNT stored
# requests against the same run at BASE (default 10,000), SQLite. Each size gets a fresh data
# directory (opencm init), seeded through the storage's own write path by bench/OpenCM.Bench.Seed
# (batches of 10,000 requests per transaction, each with its audit events in the chain), then a
# Release server (rate limits off) is measured with wrk: GET by id over random seeded ids
# (bench/wrk/get-random.lua), the first page (GET /requests?top=100) and one from the middle
# (skiptoken), and PUT Canceled over PUTS seeded Pending/Approved requests, each once
# (bench/wrk/walk.lua). Prints p99s, RSS, seed rate and database size, then the p99 ratios
# (COUNT / BASE) and the database size per million requests.
#
# Usage: bench/scale.sh [COUNT, default 10000000] [BASE, default 10000]   (from the repository root)
# env: WORK (where the data directories go; 10M requests take about 25 GB; default a fresh dir in
#      /tmp), DURATION (seconds per timed scenario, default 10), PUTS (default 500), PORT (5410),
#      VERIFY=1 (run opencm audit verify on each seeded database; minutes at 10M), KEEP=1 (keep WORK;
#      a size already seeded there is reused, not seeded again), SEED_ONLY=1 (seed, do not measure).
set -eu
COUNT=${1:-10000000}
BASE=${2:-10000}
PORT=${PORT:-5410}
DURATION=${DURATION:-10}
PUTS=${PUTS:-500}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
for tool in wrk curl shuf; do command -v $tool > /dev/null || { echo "missing: $tool"; exit 2; }; done
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM
echo "work in $work: $(df -h "$work" | awk 'NR == 2 { print $4 " free" }')"

build_cli "$work/build.log"
build_release "$root/bench/OpenCM.Bench.Seed" "$work/build-seed.log"
opencm="dotnet $(opencm_dll)"
seed="dotnet $root/bench/OpenCM.Bench.Seed/bin/Release/net10.0/OpenCM.Bench.Seed.dll"

rss() { echo "$(( $(rss_kb "$pid") / 1024 ))"; }
# p99 of a wrk --latency report, in milliseconds.
p99() { awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.2f", v }' "$1"; }
rate() { awk '/Requests\/sec/ { printf "%.0f", $2 }' "$1"; }
errors() { awk '/Non-2xx/ { n += $NF } /Socket errors/ { n += 1 } END { print n + 0 }' "$1"; }

measure() { # size label
  n=$1
  dir="$work/$2"
  # A size seeded before (KEEP=1) is measured again as it is: seeding ten million takes most of an
  # hour, and the measuring is best done later on a quiet box (SEED_ONLY=1 stops after seeding).
  if [ -f "$dir/seeded.txt" ]; then
    seconds=$(cat "$dir/seeded.txt")
    echo "[$2] reusing the $n requests seeded before in $dir ($seconds s)"
  else
    rm -rf "$dir"
    mkdir -p "$dir/ids"
    $opencm init --data "$dir/data" > /dev/null
    echo "[$2] seeding $n requests…"
    start=$(date +%s.%N)
    $seed --data "$dir/data" --count "$n" --ids "$dir/ids" > "$dir/seed.log"
    end=$(date +%s.%N)
    seconds=$(echo "$end $start" | awk '{ printf "%.1f", $1 - $2 }')
    echo "$seconds" > "$dir/seeded.txt"
    tail -2 "$dir/seed.log" | sed "s/^/[$2] /"
    if [ "${VERIFY:-0}" = 1 ]; then
      echo "[$2] $($opencm audit verify --data "$dir/data" | cut -c1-60)"
    fi
  fi
  [ "${SEED_ONLY:-0}" = 1 ] && return 0
  # The database after a checkpoint (the server's first start folds the WAL in).
  bytes=$(du -cb "$dir/data"/opencm.db* | awk 'END { print $1 }')

  # PUT ids: PUTS of the seeded Pending/Approved requests at random, dealt over wrk's two threads;
  # up to 200 more for the PUT warm-up.
  # On a reused database, not the ones an earlier measure already canceled.
  mkdir -p "$dir/put" "$dir/warm"
  cat "$dir"/put/*.txt "$dir"/warm/*.txt 2>/dev/null | sort -u > "$dir/used.txt"
  cat "$dir"/ids/ids-*.txt | grep -vxFf "$dir/used.txt" | shuf > "$dir/open.txt"
  head -n "$PUTS" "$dir/open.txt" | awk -v d="$dir/put" '{ print > (d "/ids-" (NR % 2) ".txt") }'
  tail -n +"$((PUTS + 1))" "$dir/open.txt" | head -n 200 | awk -v d="$dir/warm" '{ print > (d "/ids-" (NR % 2) ".txt") }'
  touch "$dir/warm/ids-0.txt" "$dir/warm/ids-1.txt"
  puts=$(cat "$dir"/put/ids-*.txt | wc -l)

  # Start to ready: what an operator waits for after a restart at this size (the first start
  # after the seed also folds its WAL into the database).
  started=$(date +%s.%N)
  $opencm serve --data "$dir/data" --urls "http://127.0.0.1:$PORT" --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > "$dir/server.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT" 600
  ready=$(echo "$(date +%s.%N) $started" | awk '{ printf "%.1f", $1 - $2 }')
  # `opencm serve` runs the server as its child (decision 0009): measure the server itself.
  pid=$(server_child "$pid")
  export OPENCM_TOKEN=$($opencm token --data "$dir/data" --user admin --lifetime 240)
  base="http://127.0.0.1:$PORT/CertificateManagement/api/v1.0"
  auth="Authorization: Bearer $OPENCM_TOKEN"
  middle=$(printf 'r:%d' $((n / 2)) | base64 | tr '+/' '-_' | tr -d '=\n')

  # Warm-up (JIT, caches), untimed.
  BENCH_DIR="$dir/ids" wrk -t2 -c64 -d5s -s "$root/bench/wrk/get-random.lua" "$base/requests" > /dev/null 2>&1
  wrk -t2 -c64 -d3s -H "$auth" "$base/requests?top=100" > /dev/null
  BENCH_DIR="$dir/warm" BENCH_MODE=put wrk -t2 -c64 -d5s -s "$root/bench/wrk/walk.lua" "$base/requests" > /dev/null 2>&1 || true

  BENCH_DIR="$dir/ids" wrk -t2 -c64 -d"${DURATION}s" --latency -s "$root/bench/wrk/get-random.lua" "$base/requests" > "$dir/get.txt" 2> "$dir/get.err"
  wrk -t2 -c64 -d"${DURATION}s" --latency -H "$auth" "$base/requests?top=100" > "$dir/list.txt"
  wrk -t2 -c64 -d"${DURATION}s" --latency -H "$auth" "$base/requests?top=100&skiptoken=$middle" > "$dir/deep.txt"
  BENCH_DIR="$dir/put" BENCH_MODE=put wrk -t2 -c64 -d60s --latency -s "$root/bench/wrk/walk.lua" "$base/requests" > "$dir/put.txt" 2> "$dir/put.err" || true
  memory=$(rss)
  kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  pid=""
  printf '[%s] %s requests: seed %s s (%s/s), db %s MB (%s MB per million)\n' "$2" "$n" "$seconds" \
    "$(echo "$n $seconds" | awk '{ printf "%.0f", $1 / $2 }')" "$((bytes / 1048576))" "$(echo "$bytes $n" | awk '{ printf "%.0f", $1 / 1048576 / ($2 / 1e6) }')"
  printf '[%s]   GET /requests/{id} (random): %s req/s, p99 %s ms, errors %s\n' "$2" "$(rate "$dir/get.txt")" "$(p99 "$dir/get.txt")" "$(errors "$dir/get.txt")"
  printf '[%s]   GET /requests?top=100 (first page): %s req/s, p99 %s ms, errors %s\n' "$2" "$(rate "$dir/list.txt")" "$(p99 "$dir/list.txt")" "$(errors "$dir/list.txt")"
  printf '[%s]   GET /requests?top=100 (middle page): %s req/s, p99 %s ms, errors %s\n' "$2" "$(rate "$dir/deep.txt")" "$(p99 "$dir/deep.txt")" "$(errors "$dir/deep.txt")"
  # wrk runs the whole duration after walk.lua's threads run out of ids: its req/s says nothing here.
  printf '[%s]   PUT Canceled (%s seeded requests, each once): %s answered, p99 %s ms, errors %s\n' "$2" "$puts" "$(awk '/requests in/ { print $1 }' "$dir/put.txt")" "$(p99 "$dir/put.txt")" "$(errors "$dir/put.txt")"
  printf '[%s]   server RSS after the run: %s MiB; start to ready %s s\n' "$2" "$memory" "$ready"
  eval "p99_get_$2=$(p99 "$dir/get.txt") p99_list_$2=$(p99 "$dir/list.txt") p99_deep_$2=$(p99 "$dir/deep.txt") p99_put_$2=$(p99 "$dir/put.txt")"
  # The big one's data directory is the space: free it unless kept.
  [ "${KEEP:-0}" = 1 ] || rm -rf "$dir/data" "$dir/seeded.txt"
}

echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${DURATION}s per scenario, wrk -t2 -c64; OpenCM $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
measure "$BASE" base
measure "$COUNT" big
[ "${SEED_ONLY:-0}" = 1 ] && exit 0
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }
echo "p99 ratio ($COUNT / $BASE; goal <= 1.5): GET by id $(ratio "$p99_get_big" "$p99_get_base"), first page $(ratio "$p99_list_big" "$p99_list_base"), middle page $(ratio "$p99_deep_big" "$p99_deep_base"), PUT $(ratio "$p99_put_big" "$p99_put_base")"
