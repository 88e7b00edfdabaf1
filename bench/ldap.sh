#!/bin/sh
# Issue #19: the GET and PUT paths with Active Directory (LDAP) as the directory, beside the
# embedded one, in one run. It provisions a throwaway Samba AD DC on loopback (as the tests'
# SambaDomainController does: samba-tool domain provision with an LDAPS certificate from openssl,
# samba -i), makes a user in "CM Managers", and serves OpenCM twice, one after the other on the
# same machine: with the embedded directory (user admin) and with Directory:Source=ldap (the AD
# user). Each gets the same wrk scenarios: GET /me, GET /requests/{id}, GET /requests?top=100 (a
# list page) and PUT /requests/{id} Canceled (durable, each request once). It prints req/s, p99
# and server CPU per request for both, the ratios LDAP/embedded, and the LDAP searches the DC saw
# during each LDAP scenario (from Samba's ldapsrv debug log), with the searches one list page
# costs on a cold cache (after Directory:Ldap:CacheSeconds).
# The DC's ports are fixed (88, 389, 636, ...): it takes the tests' machine-wide lock
# (/tmp/opencm-samba.lock, flock) and waits while a test run holds it.
# Usage: bench/ldap.sh [seconds per scenario, default 8]   (from the repository root)
# Env: PORT (5110), CREATE_SECONDS (untimed preparation of requests, default 2x seconds),
#      CACHE_SECONDS (Directory:Ldap:CacheSeconds, default 30 as shipped).
set -eu
DURATION=${1:-8}
PORT=${PORT:-5110}
CREATE_SECONDS=${CREATE_SECONDS:-$((DURATION * 2))}
CACHE_SECONDS=${CACHE_SECONDS:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
realm=OPENCM.TEST
base_dn=DC=opencm,DC=test
admin_dn="CN=Administrator,CN=Users,$base_dn"
# Throwaway secrets of a throwaway domain on loopback.
admin_pass='Bench-Adm1n-Passw0rd!'
user_pass='Bench-Us3r-Passw0rd!'

# 0. What this needs; nothing is installed silently.
missing=""
for tool in wrk:wrk samba:samba-ad-dc samba-tool:samba-ad-provision ldapsearch:ldap-utils openssl:openssl curl:curl flock:util-linux dotnet:dotnet-sdk; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
  echo "missing:$missing"
  echo "install with: apt-get install --no-install-recommends$(echo "$missing" | tr ' ' '\n' | grep -v dotnet-sdk | sort -u | tr '\n' ' ')"
  exit 2
fi
samba=$(command -v samba || echo /usr/sbin/samba)

# The directory is named opencm-samba-* so that a test run that takes the lock after a crash of
# this script stops the DC it left (SambaDomainController reads samba.pid there).
work=$(mktemp -d /tmp/opencm-samba-bench-XXXXXX)
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# 1. The machine's Samba lock (the tests' fixture takes the same file).
exec 9>>/tmp/opencm-samba.lock
if ! flock -n 9; then
  echo "waiting for /tmp/opencm-samba.lock (a test run has the DC)…"
  flock 9
fi

# 2. Build OpenCM (Release) while nothing else of ours runs.
echo "building OpenCM (Release)…"
build_cli "$work/build.log"
opencm="dotnet $(opencm_dll)"

# 3. The DC: a CA and an LDAPS certificate for 127.0.0.1, the domain, samba in the foreground.
echo "provisioning a Samba AD DC ($realm) on loopback…"
cd "$work"
openssl ecparam -genkey -name prime256v1 -noout -out ca.key
openssl req -x509 -new -key ca.key -subj "/CN=OpenCM bench DC CA" -days 30 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out dc.key
chmod 600 dc.key ca.key
openssl req -new -key dc.key -subj "/CN=127.0.0.1" -out dc.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > dc.ext
openssl x509 -req -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile dc.ext -out dc.pem 2>/dev/null
cd "$root"
# "log level = 5": Samba's LDAP server logs one "ldb_request" line per search it runs (its debug
# class is "all" in 4.17); that count is the "LDAP searches the DC saw" column. The DC spends a
# little more per search for it; OpenCM asks it rarely (the cache), so the ratios hardly move.
samba-tool domain provision --realm=$realm --domain=OPENCM --adminpass="$admin_pass" \
  --server-role=dc --dns-backend=NONE --targetdir="$work/dc" --host-name=dc1 \
  --option="interfaces=lo" --option="bind interfaces only=yes" \
  --option="rpc server dynamic port range=61000-61999" \
  --option="tls keyfile=$work/dc.key" --option="tls certfile=$work/dc.pem" --option="tls cafile=$work/ca.pem" \
  --option="log level = 5" > "$work/provision.log" 2>&1 || { tail -20 "$work/provision.log"; exit 1; }
smb_conf="$work/dc/etc/smb.conf"
# samba -i exits when its standard input closes: a FIFO this shell holds open (fd 8).
mkfifo "$work/samba.stdin"
exec 8<>"$work/samba.stdin"
"$samba" -i -M single -s "$smb_conf" < "$work/samba.stdin" > "$work/samba.log" 2>&1 9>&- &
samba_pid=$!
pids="$pids $samba_pid"
echo "$samba_pid" > "$work/samba.pid"
ldap() { LDAPTLS_CACERT="$work/ca.pem" ldapsearch -H ldaps://127.0.0.1:636 -x -D "$admin_dn" -w "$admin_pass" "$@"; }
up=""
for _ in $(seq 1 360); do
  if ldap -b "$base_dn" -s base dn > /dev/null 2>&1; then up=yes; break; fi
  kill -0 "$samba_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$up" ] || { echo "the DC did not come up:"; tail -30 "$work/samba.log"; exit 1; }

# 4. The AD side: the groups the sample templates name and a bench user who manages.
st() { samba-tool "$@" -s "$smb_conf" >> "$work/samba-tool.log" 2>&1 || { tail -20 "$work/samba-tool.log"; exit 1; }; }
st user create benchuser "$user_pass"
st group add "CM Managers"
st group add "CM Approvers"
st group add "Bench Team"
st group addmembers "Bench Team" benchuser
# Nested: benchuser manages through "Bench Team" (tokenGroups counts it).
st group addmembers "CM Managers" "Bench Team"
searches() { grep -c "ldb_request" "$work/samba.log" || true; }
if [ "$(searches)" -eq 0 ]; then
  ldap -b "$base_dn" -s base dn > /dev/null
  [ "$(searches)" -gt 0 ] || echo "note: Samba logs no ldb_request lines here; the LDAP search counts will read 0"
fi

# wrk's Requests/sec and 99th percentile (ms) from its --latency report; CPU per request as side-by-side.sh.
rate() { awk '/Requests\/sec/ { printf "%d", $2 }' "$1"; }
count() { awk '/requests in/ { printf "%d", $1 }' "$1"; }
p99() {
  awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' "$1"
}
non2xx() { awk '/Non-2xx/ { n = $NF } END { printf "%d", n }' "$1"; }
run_wrk() { # name connections script-or-empty url [extra args…]; server_pid is charged
  name=$1; conns=$2; script=$3; url=$4; shift 4
  out="$work/$name.txt"
  before=$(cpu_ticks "$server_pid"); s_before=$(searches)
  if [ -n "$script" ]; then
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency -s "$script" "$@" "$url" > "$out" 2>"$work/$name.err" || true
  else
    wrk -t2 -c"$conns" -d"${DURATION}s" --latency "$@" "$url" > "$out" 2>"$work/$name.err" || true
  fi
  after=$(cpu_ticks "$server_pid"); s_after=$(searches)
  us_per_request $((after - before)) "$out" > "$work/$name.cpu"
  echo $((s_after - s_before)) > "$work/$name.ldap"
}

# 5. One OpenCM per directory, one after the other: same template, same scenarios.
template=3f0a9c2e-8b1d-4e6f-9a7c-5d4b3a2f1e0d
bench_mode() { # mode (embedded|ldap) port user
  mode=$1; port=$2; user=$3
  data="$work/data-$mode"
  if [ "$mode" = ldap ]; then
    # The settings as an operator gives them: the environment, the password never on a command line.
    export Directory__Source=ldap Directory__Ldap__Url=ldaps://127.0.0.1:636 Directory__Ldap__BaseDn="$base_dn" \
      Directory__Ldap__BindDn="$admin_dn" Directory__Ldap__BindPassword="$admin_pass" Directory__Ldap__CaFile="$work/ca.pem" \
      Directory__Ldap__CacheSeconds="$CACHE_SECONDS"
  fi
  $opencm init --data "$data" > "$work/init-$mode.log"
  $opencm templates import --data "$data" "$root/bench/templates/p256-user-certificate.yaml" > /dev/null
  $opencm serve --data "$data" --urls "http://127.0.0.1:$port" --Logging:LogLevel:Default=Warning \
    --RateLimits:Enabled=false > "$work/serve-$mode.log" 2>&1 9>&- &
  serve_pid=$!
  pids="$pids $serve_pid"
  wait_ready "http://127.0.0.1:$port"
  server_pid=$(server_child "$serve_pid")
  pids="$pids $server_pid"
  api="http://127.0.0.1:$port/CertificateManagement/api/v1.0"
  OPENCM_TOKEN=$($opencm token --data "$data" --user "$user" --lifetime 120)
  export OPENCM_TOKEN
  auth="Authorization: Bearer $OPENCM_TOKEN"
  curl -fsS -H "$auth" "$api/me" > "$work/me-$mode.json" || { echo "GET /me failed ($mode):"; tail -20 "$work/serve-$mode.log"; exit 1; }

  echo "$mode: warming up…"
  wrk -t2 -c64 -d5s -H "$auth" "$api/me" > /dev/null
  id=$(curl -fs -X POST -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"datacollection\":\"[]\",\"type\":\"Enroll\",\"profiletemplateuuid\":\"$template\",\"comment\":\"\"}" "$api/requests" | tr -d '"' | sed 's|.*/||')
  wrk -t2 -c64 -d5s -H "$auth" "$api/requests/$id" > /dev/null

  echo "$mode: GET /me, GET /requests/{id}…"
  run_wrk "me-$mode" 64 "" "$api/me" -H "$auth"
  run_wrk "get-$mode" 64 "" "$api/requests/$id" -H "$auth"

  echo "$mode: preparing Approved requests (${CREATE_SECONDS}s, untimed)…"
  mkdir -p "$work/put-$mode" "$work/warm-$mode"
  BENCH_DIR="$work/put-$mode" BENCH_TEMPLATE=$template \
    wrk -t2 -c64 -d"${CREATE_SECONDS}s" -s "$root/bench/wrk/create.lua" "$api/requests" > /dev/null
  BENCH_DIR="$work/warm-$mode" BENCH_TEMPLATE=$template wrk -t2 -c64 -d3s -s "$root/bench/wrk/create.lua" "$api/requests" > /dev/null
  BENCH_DIR="$work/warm-$mode" BENCH_MODE=put wrk -t2 -c64 -d5s -s "$root/bench/wrk/walk.lua" "$api/requests" > /dev/null 2>&1 || true

  echo "$mode: GET /requests?top=100, PUT /requests/{id} Canceled over $(cat "$work/put-$mode"/ids-*.txt | wc -l) requests…"
  wrk -t2 -c64 -d3s -H "$auth" "$api/requests?top=100" > /dev/null
  run_wrk "list-$mode" 64 "" "$api/requests?top=100" -H "$auth"
  BENCH_DIR="$work/put-$mode" BENCH_MODE=put run_wrk "put-$mode" 64 "$root/bench/wrk/walk.lua" "$api/requests"

  if [ "$mode" = ldap ]; then
    # One list page on a cold cache: everything the directory was asked has expired.
    echo "ldap: one list page after the cache time (${CACHE_SECONDS}s + 2)…"
    sleep $((CACHE_SECONDS + 2))
    s_before=$(searches)
    curl -fs -H "$auth" "$api/requests?top=100" -o "$work/list-cold.json"
    sleep 1
    echo $(($(searches) - s_before)) > "$work/list-cold.ldap"
    grep -o '"Uuid"' "$work/list-cold.json" | wc -l > "$work/list-cold.count" || true
  fi
  rss=$(rss_kb "$server_pid")
  echo "$rss" > "$work/rss-$mode"
  kill "$server_pid" "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
}
bench_mode embedded "$PORT" admin
bench_mode ldap "$((PORT + 1))" benchuser

# 6. The table, ratios within this run.
echo
echo "$(date -u +%Y-%m-%d) $(nproc) cores, ${DURATION}s per scenario, wrk -t2 -c64; OpenCM $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); Samba $("$samba" -V | sed 's/Version //'); CacheSeconds $CACHE_SECONDS"
echo
echo "| scenario | embedded req/s | LDAP req/s | LDAP/embedded | p99 ms embedded, LDAP | server CPU µs/request embedded, LDAP | non-2xx | LDAP searches (per 1000 requests) |"
echo "|---|---:|---:|---:|---|---|---:|---:|"
row() { # label name
  e="$work/$2-embedded.txt"; l="$work/$2-ldap.txt"
  re=$(rate "$e"); rl=$(rate "$l"); n=$(count "$l"); s=$(cat "$work/$2-ldap.ldap")
  echo "| $1 | $re | $rl | $(awk -v a="$rl" -v b="$re" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }') | $(p99 "$e"), $(p99 "$l") | $(cat "$work/$2-embedded.cpu"), $(cat "$work/$2-ldap.cpu") | $(($(non2xx "$e") + $(non2xx "$l"))) | $s ($(awk -v s="$s" -v n="$n" 'BEGIN { printf (n > 0 ? "%.2f" : "-"), 1000 * s / n }')) |"
}
row "GET /me" me
row "GET /requests/{id}" get
row "GET /requests?top=100 (list page)" list
row "PUT /requests/{id} Canceled (durable, audited)" put
echo
echo "one list page of $(cat "$work/list-cold.count") requests on a cold cache: $(cat "$work/list-cold.ldap") LDAP searches"
echo "server resident memory: embedded $(($(cat "$work/rss-embedded") / 1024)) MiB, LDAP $(($(cat "$work/rss-ldap") / 1024)) MiB"
for f in put-embedded put-ldap; do [ -s "$work/$f.err" ] && { echo "$f: first refusals:"; head -3 "$work/$f.err"; } || true; done
