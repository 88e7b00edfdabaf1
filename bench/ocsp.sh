#!/bin/sh
# A flood of OCSP requests against the CRL route (issue #20.3), on one Release build:
#   GET  /crl/OpenCM-Root-CA.crl                     the CRL from memory (the baseline)
#   POST /ocsp, one CertID, no nonce                 RFC 5019's form: one cached signed response
#   POST /ocsp, one CertID, a nonce                  status cached, signed per request (P-256)
# Usage: bench/ocsp.sh [DIR]  (DIR: a checkout with `dotnet build -c Release src/OpenCM.Cli` done; default .)
set -eu
DIR=${1:-.}
PORT=${PORT:-5520}
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
d=$(mktemp -d); opencm="dotnet $(opencm_dll "$DIR")"
$opencm init --data $d/data > /dev/null
$opencm serve --data $d/data --urls http://127.0.0.1:$PORT --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > $d/log 2>&1 &
pid=$!; sleep 5
pid=$(server_child "$pid")
base=http://127.0.0.1:$PORT/CertificateManagement
curl -fs $base/ca/OpenCM-Root-CA.crt -o $d/ca.der
openssl x509 -inform DER -in $d/ca.der -out $d/ca.pem
# A serial this CA never issued: answered "unknown", which is looked up, cached and signed as any status is.
openssl ocsp -issuer $d/ca.pem -serial 0x4A0B0C0D0E0F1011 -no_nonce -reqout $d/plain.der
openssl ocsp -issuer $d/ca.pem -serial 0x4A0B0C0D0E0F1011 -reqout $d/nonce.der
openssl ocsp -issuer $d/ca.pem -serial 0x4A0B0C0D0E0F1011 -url $base/ocsp -CAfile $d/ca.pem -resp_text -no_nonce > $d/check 2>&1 || true
grep -q ': unknown' $d/check || { cat $d/check; kill $pid; exit 1; }
rate() { awk '/Requests\/sec/ {r=int($2)} /^ +Latency/ {l=$2} END {printf "%d req/s, mean latency %s", r, l}'; }
cpu() { ps -o times= -p $pid | tr -d " "; }
wrk -t2 -c64 -d5s $base/crl/OpenCM-Root-CA.crl > /dev/null
c0=$(cpu); crl=$(wrk -t2 -c64 -d10s $base/crl/OpenCM-Root-CA.crl | rate); c1=$(cpu)
plain=$(BENCH_OCSP_REQUEST=$d/plain.der wrk -t2 -c64 -d10s -s bench/wrk/ocsp.lua $base/ocsp | rate); c2=$(cpu)
nonce=$(BENCH_OCSP_REQUEST=$d/nonce.der wrk -t2 -c64 -d10s -s bench/wrk/ocsp.lua $base/ocsp | rate); c3=$(cpu)
echo "GET crl:            $crl; server CPU $((c1 - c0)) s of 10"
echo "POST ocsp no nonce: $plain; server CPU $((c2 - c1)) s of 10"
echo "POST ocsp nonce:    $nonce; server CPU $((c3 - c2)) s of 10"
kill $pid; wait $pid 2>/dev/null || true; rm -rf $d
