#!/bin/sh
# Issue #25: PostgreSQL beside SQLite in one run, wrk the only load generator, everything on this
# machine. A throwaway PostgreSQL cluster from Debian's packages (initdb + pg_ctl in a temp dir on
# a free port; fsync and synchronous_commit on, default settings otherwise), one OpenCM node on it
# and one OpenCM node on SQLite beside it, both Release. The scenarios alternate between the two
# servers (SQLite, then PostgreSQL, per scenario), so the box's drift falls on both alike:
#   GET /me (the authenticated no-op), GET /requests/{id}, PUT /requests/{id} Canceled (durable,
#   audited, each prepared request once), and with ISSUE=yes POST certificatedata (P-256 CA, P-256
#   CSR, 16 connections). Each row shows the OpenCM server's CPU per request and, for PostgreSQL,
#   the database's (every process of the cluster), from /proc; then the PG/SQLite ratios.
# Usage: bench/pg-side-by-side.sh [seconds per scenario, default 10]   (from the repository root)
# Env: PORT (5200: SQLite node; PORT+1 the PostgreSQL node), CREATE_SECONDS (untimed preparation,
#      default 3x seconds: creation is slower than PUT, and a side that runs out shows too low a rate), ISSUE=yes (also certificatedata), CLI (an opencm.dll to run instead of
#      building this checkout: to compare two builds), PG_BINDIR (default: Debian's newest),
#      PG_LOG=yes (log_statement=all, and print statements per request: counts round trips; slows
#      PostgreSQL, not for the rates), PG_EXTRA (more ";Key=Value" for OpenCM's connection string).
set -eu
DURATION=${1:-10}
PORT=${PORT:-5200}
CREATE_SECONDS=${CREATE_SECONDS:-$((DURATION * 3))}
ISSUE=${ISSUE:-no}
PG_LOG=${PG_LOG:-no}
PG_EXTRA=${PG_EXTRA:-}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"

# 0. What this needs; nothing is installed silently.
PG_BINDIR=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
missing=""
for tool in wrk:wrk openssl:openssl curl:curl dotnet:dotnet-sdk; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done
[ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/initdb" ] || missing="$missing postgresql"
if [ -n "$missing" ]; then
  echo "missing:$missing"
  echo "install with: apt-get install --no-install-recommends$(echo "$missing" | tr ' ' '\n' | grep -v dotnet-sdk | sort -u | tr '\n' ' ')"
  exit 2
fi

work=$(mktemp -d)
chmod 755 "$work"
pids=""
pg_data="$work/pg/data"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  [ -f "$pg_data/postmaster.pid" ] && as_pg "$PG_BINDIR/pg_ctl" -D "$pg_data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

rate() { awk '/Requests\/sec/ { printf "%d", $2 }' "$1"; }
p99() {
  awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' "$1"
}
non2xx() { awk '/Non-2xx/ { n = $NF } END { printf "%d", n }' "$1"; }
ticks() { cpu_ticks "$1" 2>/dev/null || echo 0; } # 0 for a process gone (a backend that ended)
# Every process of the cluster: the postmaster and its children (backends, WAL writer, checkpointer).
pg_ticks() {
  [ -n "${pg_pid:-}" ] || { echo 0; return; }
  t=$(ticks "$pg_pid")
  for c in $(pgrep -P "$pg_pid"); do t=$((t + $(ticks "$c"))); done
  echo "$t"
}
run_wrk() { # name server-pid connections script-or-empty url [extra args…]
  name=$1; spid=$2; conns=$3; script=$4; url=$5; shift 5
  out="$work/$name.txt"
  before=$(ticks "$spid"); dbefore=$(pg_ticks)
  if [ -n "$script" ]; then
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency -s "$script" "$@" "$url" > "$out" 2>"$work/$name.err" || true
  else
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency "$@" "$url" > "$out" 2>"$work/$name.err" || true
  fi
  after=$(ticks "$spid"); dafter=$(pg_ticks)
  us_per_request $((after - before)) "$out" > "$work/$name.cpu"
  us_per_request $((dafter - dbefore)) "$out" > "$work/$name.dbcpu"
}

# 1. PostgreSQL: a cluster of its own, trust on loopback, default settings but the port and a
#    connection limit above the pool's.
echo "starting PostgreSQL ($PG_BINDIR)…"
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$PG_BINDIR/initdb" -D "$pg_data" -U opencm --auth=trust -E UTF8 --locale=C > "$work/initdb.log" 2>&1
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_opts="-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=300"
[ "$PG_LOG" = yes ] && pg_opts="$pg_opts -c log_statement=all -c log_min_duration_statement=-1"
as_pg "$PG_BINDIR/pg_ctl" -D "$pg_data" -l "$work/pg/server.log" -w -t 60 -o "$pg_opts" start > /dev/null
pg_pid=$(head -1 "$pg_data/postmaster.pid")
as_pg "$PG_BINDIR/psql" -h 127.0.0.1 -p "$pg_port" -U opencm -d postgres -qc 'CREATE DATABASE bench' > /dev/null
echo "  fsync=$(as_pg "$PG_BINDIR/psql" -h 127.0.0.1 -p "$pg_port" -U opencm -d postgres -Atc 'SHOW fsync'), synchronous_commit=$(as_pg "$PG_BINDIR/psql" -h 127.0.0.1 -p "$pg_port" -U opencm -d postgres -Atc 'SHOW synchronous_commit')"
conn="Host=127.0.0.1;Port=$pg_port;Database=bench;Username=opencm;Maximum Pool Size=100$PG_EXTRA"

# 2. OpenCM, Release (or the CLI given), on SQLite and on PostgreSQL, the P-256 benchmark template in each.
if [ -z "${CLI:-}" ]; then
  echo "building OpenCM (Release)…"
  build_cli "$work/build.log"
  CLI=$(opencm_dll)
fi
opencm="dotnet $CLI"
opts="--Logging:LogLevel:Default=Warning --RateLimits:Enabled=false"
start_opencm() { # name port [store args…]; sets server_pid
  name=$1; port=$2; shift 2
  $opencm init --data "$work/$name" "$@" > /dev/null
  $opencm templates import --data "$work/$name" "$@" "$root/bench/templates/p256-user-certificate.yaml" > /dev/null
  $opencm serve --data "$work/$name" "$@" --urls "http://127.0.0.1:$port" $opts > "$work/$name.log" 2>&1 &
  server_pid=$!
  pids="$pids $server_pid"
  wait_ready "http://127.0.0.1:$port"
  curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null || { echo "$name did not start:"; cat "$work/$name.log"; exit 1; }
  # Measure the server itself, not `opencm serve` (decision 0009).
  server_pid=$(server_child "$server_pid")
  pids="$pids $server_pid"
}
echo "starting OpenCM on SQLite and on PostgreSQL…"
start_opencm sqlite "$PORT"
sqlite_pid=$server_pid
start_opencm pgnode "$((PORT + 1))" --database postgres --connection "$conn" --Ca:PublicUrl=http://127.0.0.1:$((PORT + 1))
pgnode_pid=$server_pid
token_sqlite=$($opencm token --data "$work/sqlite" --user admin --lifetime 120)
token_pg=$($opencm token --data "$work/pgnode" --database postgres --connection "$conn" --user admin --lifetime 120)

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/csr.key" -subj /CN=bench -out "$work/csr.pem" 2>/dev/null
export BENCH_CSR=$(openssl req -in "$work/csr.pem" -outform DER | base64 -w0)

base_of() { echo "http://127.0.0.1:$1/CertificateManagement/api/v1.0"; }
side() { # side -> sets base pid token
  if [ "$1" = sqlite ]; then base=$(base_of "$PORT"); spid=$sqlite_pid; tok=$token_sqlite
  else base=$(base_of "$((PORT + 1))"); spid=$pgnode_pid; tok=$token_pg; fi
}
create() { # side dir seconds template
  side "$1"; mkdir -p "$2"
  OPENCM_TOKEN=$tok BENCH_DIR="$2" BENCH_TEMPLATE=$4 wrk -t2 -c64 -d"$3s" -s "$root/bench/wrk/create.lua" "$base/requests" > "$2.txt"
}

# 3. Warm-up (JIT, pools, caches), untimed, and one request per side for GET.
echo "warming up…"
for s in sqlite pg; do
  side $s
  wrk -t2 -c64 -d5s -H "Authorization: Bearer $tok" "$base/me" > /dev/null
  id=$(curl -fs -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}' "$base/requests" | tr -d '"' | sed 's|.*/||')
  eval "id_$s=$id"
  wrk -t2 -c64 -d5s -H "Authorization: Bearer $tok" "$base/requests/$id" > /dev/null
done

# 4. Timed scenarios, alternating SQLite and PostgreSQL.
for s in sqlite pg; do
  side $s; echo "GET /me, $s…"
  run_wrk "me-$s" "$spid" 64 "" "$base/me" -H "Authorization: Bearer $tok"
done
for s in sqlite pg; do
  side $s; eval "id=\$id_$s"; echo "GET /requests/{id}, $s…"
  run_wrk "get-$s" "$spid" 64 "" "$base/requests/$id" -H "Authorization: Bearer $tok"
done
for s in sqlite pg; do
  echo "preparing requests for PUT, $s (${CREATE_SECONDS}s + 3s warm-up, untimed)…"
  create $s "$work/put-$s" "$CREATE_SECONDS" 5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60
  create $s "$work/warm-put-$s" 3 5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60
  side $s
  OPENCM_TOKEN=$tok BENCH_DIR="$work/warm-put-$s" BENCH_MODE=put wrk -t2 -c64 -d5s -s "$root/bench/wrk/walk.lua" "$base/requests" > /dev/null 2>&1 || true
done
for s in sqlite pg; do
  side $s; echo "PUT /requests/{id} Canceled, $s, over $(cat "$work/put-$s"/ids-*.txt | wc -l) requests…"
  OPENCM_TOKEN=$tok BENCH_DIR="$work/put-$s" BENCH_MODE=put run_wrk "put-$s" "$spid" 64 "$root/bench/wrk/walk.lua" "$base/requests"
done
if [ "$ISSUE" = yes ]; then
  for s in sqlite pg; do
    echo "preparing requests for certificatedata, $s (untimed)…"
    create $s "$work/issue-ids-$s" "$CREATE_SECONDS" 3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d
    create $s "$work/warm-issue-$s" 3 3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d
    side $s
    OPENCM_TOKEN=$tok BENCH_DIR="$work/warm-issue-$s" BENCH_MODE=certificatedata wrk -t2 -c16 -d5s -s "$root/bench/wrk/walk.lua" "$base/requests" > /dev/null 2>&1 || true
  done
  for s in sqlite pg; do
    side $s; echo "POST certificatedata, $s…"
    OPENCM_TOKEN=$tok BENCH_DIR="$work/issue-ids-$s" BENCH_MODE=certificatedata run_wrk "issue-$s" "$spid" 16 "$root/bench/wrk/walk.lua" "$base/requests"
  done
fi

# 5. Statements per request (PG_LOG=yes): one request of each kind, alone, counted in the server's log.
if [ "$PG_LOG" = yes ]; then
  side pg
  count_one() { # label curl-args…
    label=$1; shift
    slug=$(echo "$label" | tr -c 'A-Za-z0-9\n' '-')
    sleep 3; from=$(wc -l < "$work/pg/server.log")
    curl -fs -o /dev/null -H "Authorization: Bearer $tok" "$@"
    sleep 1
    sed -n "$((from + 1)),\$p" "$work/pg/server.log" | grep 'LOG:  *\(statement\|execute\)' | sed 's/^.*LOG: *//' | cut -c1-160 > "$work/stmts-$slug.txt"
    echo "  $label: $(wc -l < "$work/stmts-$slug.txt") statement lines (a line may carry several statements)"
  }
  echo; echo "statements PostgreSQL logged per request (log_statement=all; background loops may add one):"
  count_one "GET /me" "$base/me"
  count_one "GET /requests/{id}" "$base/requests/$id_pg"
  rid=$(head -1 "$work/warm-put-pg"/ids-0.txt)
  rid=$(curl -fs -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}' "$base/requests" | tr -d '"' | sed 's|.*/||')
  count_one "PUT Canceled" -X PUT -H 'Content-Type: application/json' -d '{"status":"Canceled"}' "$base/requests/$rid"
  for f in "$work"/stmts-*.txt; do echo "--- ${f##*/}"; cat "$f"; done
fi

# 6. The table, ratios within this run.
echo
echo "$(date -u +%Y-%m-%d) $(nproc) cores, ${DURATION}s per scenario, wrk -t2; OpenCM $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($CLI); PostgreSQL $("$PG_BINDIR/postgres" -V | awk '{ print $3 }')"
echo
echo "| scenario | conns | SQLite req/s | p99 ms | CPU µs/req | PG req/s | p99 ms | non-2xx | OpenCM CPU µs/req | PG CPU µs/req | PG/SQLite | goal |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
row() { # label name conns goal
  [ -s "$work/$2-sqlite.txt" ] || return 0
  a=$(rate "$work/$2-sqlite.txt"); b=$(rate "$work/$2-pg.txt")
  echo "| $1 | $3 | $a | $(p99 "$work/$2-sqlite.txt") | $(cat "$work/$2-sqlite.cpu") | $b | $(p99 "$work/$2-pg.txt") | $(($(non2xx "$work/$2-sqlite.txt") + $(non2xx "$work/$2-pg.txt"))) | $(cat "$work/$2-pg.cpu") | $(cat "$work/$2-pg.dbcpu") | $(awk -v a="$a" -v b="$b" 'BEGIN { printf (a > 0 ? "%.2f" : "-"), b / a }') | $4 |"
}
row "GET /me (the ceiling)" me 64 "-"
row "GET /requests/{id}" get 64 ">= 0.70"
row "PUT /requests/{id} Canceled (durable, audited)" put 64 ">= 0.50"
row "POST certificatedata (P-256 CA and CSR)" issue 16 "-"
# wrk divides by the whole duration: a side whose prepared requests ran out early shows a rate
# below its speed. Say so (raise CREATE_SECONDS then).
for s in sqlite pg; do
  [ -s "$work/put-$s.txt" ] || continue
  prepared=$(cat "$work/put-$s"/ids-*.txt | wc -l)
  sent=$(awk '/requests in/ { print $1 }' "$work/put-$s.txt")
  echo "PUT, $s: $sent sent over $prepared prepared$([ "${sent:-0}" -ge "$prepared" ] && echo ': RAN OUT, the rate is a lower bound (raise CREATE_SECONDS)' || true)"
done
for f in "$work"/put-*.err "$work"/issue-*.err; do [ -s "$f" ] && { echo "${f##*/}: first refusals:"; head -3 "$f"; } || true; done
