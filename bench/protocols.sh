#!/bin/sh
# Issue #24: issuance throughput of one template (bench/templates/p256-tls-server.yaml: P-256 CA,
# P-256 CSRs) through its three front doors in one run, one server, one user:
#   MIM CM's POST certificatedata (requests created beforehand, untimed), EST simpleenroll (the
#   request created, issued and completed inside one POST, HTTP Basic) and ACME (a whole order
#   per certificate: newOrder, authorization, http-01 validated by the server against the load
#   generator, finalize, download). Every path is the same durable, audited issuance.
# The load generator is bench/OpenCM.Bench.Load (--protocols): an ACME order is several signed
# requests that depend on each other, which wrk cannot make.
# Usage: bench/protocols.sh [certificates per path, default 2000]   (from the repository root)
# Env: PORT (5200), HTTP01_PORT (5402), CONNECTIONS (16).
set -eu
COUNT=${1:-2000}
PORT=${PORT:-5200}
HTTP01_PORT=${HTTP01_PORT:-5402}
CONNECTIONS=${CONNECTIONS:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
for tool in curl dotnet; do command -v $tool > /dev/null 2>&1 || { echo "missing: $tool"; exit 2; }; done

work=$(mktemp -d)
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "building OpenCM and the load generator (Release)…"
build_cli "$work/build.log"
build_release "$root/bench/OpenCM.Bench.Load" "$work/build-load.log"
opencm="dotnet $(opencm_dll)"

# 1. A fresh data directory with a P-256 CA, the template, a user with a password (EST) and an
#    External Account Binding for that user (ACME).
Ca__KeyAlgorithm=EcdsaP256 $opencm init --data "$work/data" > /dev/null
$opencm templates import --data "$work/data" "$root/bench/templates/p256-tls-server.yaml" > /dev/null
OPENCM_BENCH_PASSWORD=$(head -c 18 /dev/urandom | base64)
export OPENCM_BENCH_PASSWORD
echo "$OPENCM_BENCH_PASSWORD" | $opencm users add --data "$work/data" --name bench --password-stdin > /dev/null
$opencm acme eab --data "$work/data" --user bench --template bench-tls-server --format json > "$work/eab.json"
kid=$(sed -n 's/.*"kid" *: *"\([^"]*\)".*/\1/p' "$work/eab.json")
OPENCM_BENCH_EAB_HMAC=$(sed -n 's/.*"hmac" *: *"\([^"]*\)".*/\1/p' "$work/eab.json")
export OPENCM_BENCH_EAB_HMAC

# 2. The server, without rate limits (one user makes every request), validating http-01 on the
#    load generator's port.
$opencm serve --data "$work/data" --urls "http://127.0.0.1:$PORT" --Logging:LogLevel:Default=Warning \
  --RateLimits:Enabled=false --Acme:Http01Port="$HTTP01_PORT" > "$work/server.log" 2>&1 &
pids="$pids $!"
wait_ready "http://127.0.0.1:$PORT"
token=$($opencm token --data "$work/data" --user bench --lifetime 120)

# 3. The three paths, one after the other, each after an untimed warm-up of its own.
dotnet "$root/bench/OpenCM.Bench.Load/bin/Release/net10.0/OpenCM.Bench.Load.dll" --protocols --server "http://127.0.0.1:$PORT" --token "$token" \
  --template-uuid 7c1e5b3a-2d4f-4a6b-8c9d-0e1f2a3b4c5d --label bench-tls-server --est-user bench --eab-kid "$kid" \
  --http01-port "$HTTP01_PORT" --connections "$CONNECTIONS" --puts "$COUNT" || { tail -20 "$work/server.log"; exit 1; }
