#!/usr/bin/env bash
# bench/echo.sh <builddir>: the TCP echo server on grt (examples/echo.c)
# against its Go twin (bench/go/echo, net package), under the same load.
#
# Builds the Go twin (standard library only, offline) into a temporary
# directory, then for BENCH_RUNS rounds (default 5), interleaved: starts
# <builddir>/echo on a free port (port 0; the port is read from its
# "listening on" line), runs <builddir>/bench_echo_load against it (100
# connections, 64-byte request/response round trips, 5 s), stops it; then
# the same with the Go server.  Both servers get 2 Ps (GRT_MAXPROCS=2,
# GOMAXPROCS=2), and so does the load generator, which shares the machine's
# cores with them.  Prints per-round rps, the medians and the grt/Go ratio
# (higher is better for grt; the goal is >= 1.0).  Numbers are reported,
# never asserted: the exit status is 0 unless something failed to build or
# run.
#
# Environment: BENCH_RUNS (default 5), ECHO_CONNS (100), ECHO_MSG (64),
# ECHO_SECONDS (5), ECHO_PROCS (2).
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "echo.sh: no build directory $1" >&2
  exit 2
}
runs=${BENCH_RUNS:-5}
conns=${ECHO_CONNS:-100}
msg=${ECHO_MSG:-64}
secs=${ECHO_SECONDS:-5}
procs=${ECHO_PROCS:-2}
case $runs in '' | *[!0-9]* | 0)
  echo "echo.sh: BENCH_RUNS must be a positive whole number" >&2
  exit 2
  ;;
esac
for b in echo bench_echo_load; do
  if [ ! -x "$build/$b" ]; then
    echo "echo.sh: $build/$b not built" >&2
    exit 1
  fi
done
if ! command -v go >/dev/null 2>&1; then
  echo "echo.sh: go is missing; install it with: sudo apt-get install golang-go" >&2
  exit 1
fi

work=$(mktemp -d)
server_pid=
load_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
  fi
}
# Children run in the background, waited for, so a signal stops them at once.
trap '[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null; stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# go build writes nothing outside $work, and needs no network.
(
  export HOME=$work/home GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS='' GOPROXY=off \
    GO111MODULE=on GOWORK=off CGO_ENABLED=0
  mkdir -p "$HOME"
  cd "$here/go" && go build -o "$work/go_echo" ./echo
) || {
  echo "echo.sh: go build of bench/go/echo failed" >&2
  exit 1
}
echo "Go twin built with $(go version | awk '{print $3}')"

status=0
# start_server <log> <command...>: starts a server on port 0 and sets
# server_pid and port, or returns 1 after saying why.
start_server() {
  local log=$1
  shift
  GRT_MAXPROCS=$procs GOMAXPROCS=$procs "$@" >"$log" 2>&1 &
  server_pid=$!
  port=
  for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's/^echo: listening on .*:\([0-9][0-9]*\) .*/\1/p' "$log")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "echo.sh: $* did not start listening:" >&2
  cat "$log" >&2
  stop_server
  return 1
}

# run_side <side> <round> <server command...>: one measured run.
run_side() {
  local side=$1 round=$2
  shift 2
  local log=$work/$side.$round.server
  if ! start_server "$log" "$@"; then
    status=1
    return
  fi
  local rps
  GRT_MAXPROCS=$procs timeout $((secs + 60)) "$build/bench_echo_load" 127.0.0.1 "$port" "$conns" \
    "$msg" "$secs" >"$work/load.out" 2>"$work/load.err" &
  load_pid=$!
  wait "$load_pid"
  local rc=$?
  load_pid=
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "  $side round $round: the server died:" >&2
    tail -n 5 "$log" >&2
    status=1
  fi
  stop_server
  rps=$(awk '$1 == "RESULT" && $2 == "echo_rps" { v = $3 } END { print v }' "$work/load.out")
  if [ $rc -ne 0 ] || [ -z "$rps" ]; then
    echo "  $side round $round: load FAILED (exit $rc)" >&2
    tail -n 5 "$work/load.out" "$work/load.err" "$log" >&2
    status=1
    return
  fi
  printf '  round %d %-3s %10.0f rps   %s\n' "$round" "$side" "$rps" \
    "$(sed -n 's/.*round trips (\(per connection: [^)]*\)).*/\1/p' "$work/load.out")"
  echo "$side $rps" >>"$work/results"
}

: >"$work/results"
echo "Echo: $runs rounds, grt and Go interleaved; $conns connections x $msg-byte" \
  "round trips for $secs s each; $procs Ps per server and for the load generator"
for ((r = 1; r <= runs; r++)); do
  run_side grt "$r" "$build/echo" 0
  run_side go "$r" "$work/go_echo" 0
done

echo
awk '
  function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {
      t = a[i] + 0
      for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
      a[j + 1] = t
    }
    return n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { vals[$1] = vals[$1] " " $2 }
  END {
    g = median(vals["grt"]); o = median(vals["go"])
    fmt = "%-12s %12s %12s %8s %8s\n"
    printf fmt, "metric", "grt median", "Go median", "grt/Go", "goal"
    printf fmt, "echo_rps", g == "" ? "FAILED" : sprintf("%.0f", g), \
      o == "" ? "FAILED" : sprintf("%.0f", o), \
      (g == "" || o == "" || o == 0) ? "n/a" : sprintf("%.2f", g / o), ">= 1.0"
    printf "  grt:%s\n   Go:%s\n", vals["grt"], vals["go"]
  }
' "$work/results"
exit $status
