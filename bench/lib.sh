# The steps the bench scripts share. POSIX sh, sourced after $root (the checkout) is set:
#   root=$(cd "$(dirname "$0")/.." && pwd)
#   . "$root/bench/lib.sh"

# Builds project DIR in Release, quietly, its output in LOG; on failure prints LOG and exits 1.
build_release() { dotnet build -c Release "$1" -v q -nologo > "$2" 2>&1 || { cat "$2"; exit 1; }; }

# Builds this checkout's CLI in Release (build_release, output in LOG).
build_cli() { build_release "$root/src/OpenCM.Cli" "$1"; }

# The Release opencm.dll of checkout DIR (default: this one), as build_cli leaves it.
opencm_dll() { echo "${1:-$root}/src/OpenCM.Cli/bin/Release/net10.0/opencm.dll"; }

# Waits for BASE/health/ready (BASE e.g. http://127.0.0.1:5100), polling every 0.2 s at most TRIES times (default 150); never fails: check where it matters.
wait_ready() {
  for _ in $(seq 1 "${2:-150}"); do curl -fs "$1/health/ready" > /dev/null 2>&1 && break; sleep 0.2; done
}

# The server process of `opencm serve` PID: its child (decision 0009), or PID itself where there is none (an older build).
server_child() { _bench_child=$(pgrep -P "$1" | head -1 || true); echo "${_bench_child:-$1}"; }

# Resident memory of process PID, in KiB.
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }

# CPU time (user + system) process PID has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# TICKS of CPU spread over the requests of wrk report FILE, in µs a request (nothing where it counted none).
us_per_request() {
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" '/requests in/ { if ($1 > 0) printf "%.0f", t / hz * 1e6 / $1 }' "$2"
}
