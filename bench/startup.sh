#!/bin/sh
# Issue #11.5: start-to-first-response and resident memory of `opencm serve`, framework-dependent
# (dotnet opencm.dll), self-contained single file (dotnet publish -p:PublishSingleFile=true), and
# the same precompiled (-p:PublishReadyToRun=true), each started RUNS times on an initialized data
# directory; prints the median. (Native AOT is not offered: the portal's Razor Pages do not
# support it.)
# Usage: bench/startup.sh [runs, default 5]   (from the repository root)
set -eu
RUNS=${1:-5}
PORT=${PORT:-5300}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
work=$(mktemp -d)
trap 'pkill -f "serve --data $work" 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
command -v curl > /dev/null || { echo "missing: curl (apt-get install curl)"; exit 2; }

echo "building both forms…"
build_cli "$work/build.log"
dotnet publish "$root/src/OpenCM.Cli" -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
  -p:IncludeNativeLibrariesForSelfExtract=true -o "$work/single" -v q -nologo > "$work/publish.log" 2>&1 || { cat "$work/publish.log"; exit 1; }
dotnet publish "$root/src/OpenCM.Cli" -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true -p:PublishReadyToRun=true \
  -p:IncludeNativeLibrariesForSelfExtract=true -o "$work/r2r" -v q -nologo > "$work/publish-r2r.log" 2>&1 || { cat "$work/publish-r2r.log"; exit 1; }
dotnet "$(opencm_dll)" init --data "$work/data" > /dev/null

now_ms() { date +%s%3N; }
measure() { # label command…
  label=$1; shift
  times=""; rss=""
  for _ in $(seq 1 "$RUNS"); do
    start=$(now_ms)
    "$@" serve --data "$work/data" --urls "http://127.0.0.1:$PORT" --Logging:LogLevel:Default=Warning > "$work/serve.log" 2>&1 &
    pid=$!
    until curl -fs "http://127.0.0.1:$PORT/health/live" > /dev/null 2>&1; do sleep 0.01; done
    took=$(( $(now_ms) - start ))
    # The server is the child `opencm serve` starts (decision 0009); the wrapper only waits on it.
    kb=$(rss_kb "$(server_child "$pid")")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    times="$times $took"; rss="$rss $kb"
  done
  median() { echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
  echo "| $label | $(median $times) ms | $(( $(median $rss) / 1024 )) MiB |"
}

echo
echo "| form | start to first response (median of $RUNS) | RSS then |"
echo "|---|---:|---:|"
measure "framework-dependent (dotnet opencm.dll)" dotnet "$(opencm_dll)"
measure "self-contained single file ($(( $(stat -c %s "$work/single/opencm") / 1048576 )) MiB)" "$work/single/opencm"
measure "single file, ReadyToRun ($(( $(stat -c %s "$work/r2r/opencm") / 1048576 )) MiB)" "$work/r2r/opencm"
