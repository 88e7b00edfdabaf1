#!/bin/sh
# A/B of GET /requests/{id} and GET /requests?top=100 against GET /me for two builds of OpenCM,
# alternating, two rounds (the box's speed drifts within minutes; compare within a round).
# Usage: bench/ab-reads.sh BEFORE_DIR AFTER_DIR, each a checkout with
#   dotnet build -c Release src/OpenCM.Cli   done (e.g. git worktree add /tmp/before <commit>).
set -eu
BEFORE=${1:?a checkout built in Release}
AFTER=${2:?a checkout built in Release}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
run() { # label dir port
  d=$(mktemp -d); opencm="dotnet $(opencm_dll "$2")"
  $opencm init --data $d/data > /dev/null
  $opencm serve --data $d/data --urls http://127.0.0.1:$3 --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > $d/log 2>&1 &
  pid=$!; sleep 4
  pid=$(server_child "$pid")
  t=$($opencm token --data $d/data --user admin --lifetime 60); base=http://127.0.0.1:$3/CertificateManagement/api/v1.0
  for i in $(seq 1 150); do curl -fs -X POST -H "Authorization: Bearer $t" -H 'Content-Type: application/json' -d '{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}' $base/requests > $d/last; done
  id=$(tr -d '"' < $d/last | sed 's|.*/||')
  wrk -t2 -c64 -d5s -H "Authorization: Bearer $t" $base/requests/$id > /dev/null
  me=$(wrk -t2 -c64 -d10s -H "Authorization: Bearer $t" $base/me | awk '/Requests\/sec/ {print int($2)}')
  get=$(wrk -t2 -c64 -d10s -H "Authorization: Bearer $t" $base/requests/$id | awk '/Requests\/sec/ {print int($2)}')
  list=$(wrk -t2 -c64 -d10s -H "Authorization: Bearer $t" "$base/requests?top=100" | awk '/Requests\/sec/ {print int($2)}')
  echo "$1: me $me, get $get ($(awk -v a=$get -v b=$me 'BEGIN{printf "%.2f", a/b}')), list top=100 $list/s"
  kill $pid; wait $pid 2>/dev/null || true; rm -rf $d
}
for round in 1 2; do
  run before "$BEFORE" 5501
  run after "$AFTER" 5502
done
