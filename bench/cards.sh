#!/bin/sh
# Issue #22: what a card operation costs through the real PC/SC stack, in one run on one machine:
# `opencm serve` on a fresh data directory, pcscd with vsmartcard's virtual reader, the project's
# GIDS card (`opencm card emulate`) in it, then `opencm card enroll`, `unblock` and `renew` timed
# one after the other (RSA 2048 on the card, the sample "Virtual Smartcard VPN" template), and the
# APDUs each sent (counted by pcscd's --apdu log). Last, the same enrollment on the in-process
# emulated Base CSP card (`opencm card simulate`, no reader), to show what the reader path adds.
# Usage (root, with pcscd and vsmartcard-vpcd installed; nothing else may be using pcscd):
#   bench/cards.sh          (from the repository root, after dotnet build -c Release src/OpenCM.Cli)
# Env: PORT (5540).
set -eu
PORT=${PORT:-5540}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
opencm="dotnet $(opencm_dll)"
w=$(mktemp -d)
key=010203040506070801020304050607080102030405060708   # the sample template's default admin key
reader="Virtual PCD 00 00"
pgrep -x pcscd > /dev/null && { echo "pcscd is already running: stop it first" >&2; exit 1; }

/usr/sbin/pcscd --foreground --apdu > $w/pcscd.log 2>&1 & pcscd=$!
$opencm serve --data $w/data --urls http://127.0.0.1:$PORT --Logging:LogLevel:Default=Warning --RateLimits:Enabled=false > $w/serve.log 2>&1 & serve=$!
trap 'kill $emulate $serve $pcscd 2>/dev/null; rm -rf $w' EXIT
until grep -q "OpenCM is serving" $w/serve.log; do sleep 0.5; done
sleep 1
$opencm card emulate --new --admin-key $key > $w/emulate.log 2>&1 & emulate=$!
until opensc-tool -r 0 -n 2>/dev/null | grep -q GIDS; do sleep 0.2; done

$opencm users add --data $w/data --name bench > /dev/null
export OPENCM_SERVER=http://127.0.0.1:$PORT OPENCM_TOKEN=$($opencm token --data $w/data --user bench)
apdus() { grep -c "^.*APDU: " $w/pcscd.log || true; }
run() {   # label, then the command; prints seconds and APDUs sent
  before=$(apdus); start=$(date +%s.%N)
  "$@" > $w/out.log 2>&1 || { cat $w/out.log; exit 1; }
  end=$(date +%s.%N); after=$(apdus)
  printf '%-34s %6.2f s  %4d APDUs\n' "$label" "$(echo "$end - $start" | bc)" $(( after - before ))
}
label="card enroll (GIDS, RSA 2048)"; echo 482615 | run $opencm card enroll --reader "$reader" --template "Virtual Smartcard VPN" --data-item "Request Reason=VPN" --pin-stdin
label="card unblock (online)"; echo 731902 | run $opencm card unblock --reader "$reader" --pin-stdin
label="card renew (a second key)"; echo 731902 | run $opencm card renew --reader "$reader" --template "Virtual Smartcard VPN" --pin-stdin
label="card simulate (in-process Base CSP)"; run $opencm card simulate --template "Virtual Smartcard VPN" --data-item "Request Reason=VPN"
