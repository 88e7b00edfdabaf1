#!/bin/sh
# Issue #21: what operating OpenCM costs on the write path, in one run on one machine. The server
# is started twice on fresh data directories, one after the other: once plain, once with every
# operations piece on (Prometheus metrics on a management address, scraped every second; a webhook
# receiver on loopback; the dispatcher delivering each event). Each serves the same wrk scenario,
# POST /requests (each creation also writes its outbox event), and the second is then given time
# to drain the deliveries. Last, `opencm backup` runs in the middle of a third creation run on the
# operations server: how long it took, how big the copy is, and the creation rate around it.
# Usage: bench/operations.sh [seconds per scenario, default 10]   (from the repository root, after
#   dotnet build -c Release src/OpenCM.Cli)
# Env: PORT (5530; PORT+1 metrics, PORT+2 the webhook receiver).
set -eu
DURATION=${1:-10}
PORT=${PORT:-5530}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
opencm="dotnet $(opencm_dll)"
template=5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60   # samples/templates/user-certificate.yaml
w=$(mktemp -d)
export BENCH_DIR=$w BENCH_TEMPLATE=$template
base=http://127.0.0.1:$PORT/CertificateManagement/api/v1.0
# A throwaway secret for a receiver on loopback.
secret=whsec_$(printf 'bench-operations-secret-32-bytes' | base64 -w0)

# The webhook receiver: counts POSTs, answers 200 (signatures are the tests' business).
cat > $w/receiver.py <<'EOF'
import http.server, sys
count = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        count += 1
        self.send_response(200); self.end_headers()
        with open(sys.argv[2], 'w') as f: f.write(str(count))
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
EOF
echo 0 > $w/received
python3 $w/receiver.py $((PORT + 2)) $w/received & receiver=$!

serve() { # data-dir extra-settings… → starts the server, sets pid and OPENCM_TOKEN
  data=$1; shift
  $opencm init --data $data > /dev/null
  $opencm serve --data $data --urls http://127.0.0.1:$PORT --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false "$@" > $w/log 2>&1 &
  pid=$!
  until curl -fs http://127.0.0.1:$PORT/health/ready > /dev/null 2>&1; do sleep 0.5; done
  pid=$(server_child "$pid")
  export OPENCM_TOKEN=$($opencm token --data $data --user admin --lifetime 60)
}
stop() { kill $pid; wait $pid 2>/dev/null || true; sleep 1; }
rate() { awk '/Requests\/sec/ {printf "%d", $2}'; }

# 1. Plain.
serve $w/plain
wrk -t2 -c16 -d3s -s bench/wrk/create.lua $base/requests > /dev/null
plain=$(wrk -t2 -c16 -d${DURATION}s -s bench/wrk/create.lua $base/requests | rate)
stop

# 2. Metrics, scraped every second, and a webhook for every event.
serve $w/ops --Metrics:Urls=http://127.0.0.1:$((PORT + 1)) \
  --Webhooks:Endpoints:0:Url=http://127.0.0.1:$((PORT + 2))/hook --Webhooks:Endpoints:0:Secret=$secret \
  --Notifications:PollSeconds=1
( while kill -0 $pid 2>/dev/null; do curl -fs http://127.0.0.1:$((PORT + 1))/metrics > $w/metrics.txt || true; sleep 1; done ) & scraper=$!
wrk -t2 -c16 -d3s -s bench/wrk/create.lua $base/requests > /dev/null
ops=$(wrk -t2 -c16 -d${DURATION}s -s bench/wrk/create.lua $base/requests | rate)
# Every creation on this server (the warm-up's too) is one request.created event, one webhook.
created=$(curl -fs http://127.0.0.1:$((PORT + 1))/metrics | awk '/^opencm_requests_created_total/ { s += $2 } END { print s + 0 }')
received() { r=$(cat $w/received 2>/dev/null || true); echo "${r:-0}"; }
t0=$(date +%s)
while [ "$(received)" -lt "$created" ] && [ $(($(date +%s) - t0)) -lt 300 ]; do sleep 1; done
drained=$(($(date +%s) - t0))

# 3. A creation run on the same server without a backup, then one with a backup in the middle.
before=$(wrk -t2 -c16 -d${DURATION}s -s bench/wrk/create.lua $base/requests | rate)
wrk -t2 -c16 -d${DURATION}s -s bench/wrk/create.lua $base/requests > $w/during.txt &
load=$!
sleep $((DURATION / 3))
b0=$(date +%s%N)
$opencm backup --data $w/ops --out $w/copy.db > $w/backup.txt 2>&1
b1=$(date +%s%N)
wait $load
during=$(rate < $w/during.txt)
kill $scraper 2>/dev/null || true
stop
kill $receiver 2>/dev/null || true

echo "POST /requests, plain:                        $plain/s"
echo "POST /requests, metrics + webhooks:           $ops/s (ratio $(awk -v a=$ops -v b=$plain 'BEGIN { printf "%.2f", a / b }'))"
echo "webhooks delivered after the run:             $(received) of $created created, $drained s to drain after the run"
echo "metrics scrape:                               $(wc -c < $w/metrics.txt) bytes, $(grep -c '^opencm_' $w/metrics.txt) opencm_ samples"
echo "POST /requests, same server, no backup:       $before/s"
echo "POST /requests with a backup in the middle:   $during/s (ratio $(awk -v a=$during -v b=$before 'BEGIN { printf "%.2f", a / b }'))"
echo "opencm backup:                                $(((b1 - b0) / 1000000)) ms, $(du -k $w/copy.db | cut -f1) KiB"
grep -i 'request' $w/backup.txt | head -2 | sed 's/^/  backup says: /'
rm -rf $w
