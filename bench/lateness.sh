#!/usr/bin/env bash
# bench/lateness.sh <builddir>: wake-up lateness of a 1 ms ticker under
# load, grt next to Go, in the same run.
#
# Builds the Go twin (bench/go/lateness, standard library and cgo, offline)
# into <builddir>/bench-go/ as run.sh does, then runs each scenario (idle,
# spin, syscall, storm: see bench/lateness.c) BENCH_RUNS times (default 3),
# interleaved: grt, Go, grt, Go, ...  Each run prints
#   RESULT lateness_<scenario>_p50_us / _p99_us / _max_us
#   RESULT threads_<scenario>, RESULT rss_<scenario>_kib
# and the script prints, per scenario and metric, the grt median, the Go
# median and grt/Go (lower is better for every metric; the goal is a p99 at
# or below Go's), then the raw values.  Numbers are reported, never
# asserted: the exit status is 0 unless a grt run failed or the Go twin
# failed to build or run.  Without go it says so, prints the grt numbers
# alone and exits 0.
#
# Environment: BENCH_RUNS (default 3), LATENESS_SECONDS of ticking per run
# (2), LATENESS_SCENARIOS (default "idle spin syscall storm"),
# BENCH_TIMEOUT seconds per run (60).
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "lateness.sh: no build directory $1" >&2
  exit 2
}
runs=${BENCH_RUNS:-3}
secs=${LATENESS_SECONDS:-2}
scenarios=${LATENESS_SCENARIOS:-idle spin syscall storm}
limit=${BENCH_TIMEOUT:-60}
case $runs in '' | *[!0-9]* | 0)
  echo "lateness.sh: BENCH_RUNS must be a positive whole number" >&2
  exit 2
  ;;
esac
grt_bin=$build/bench_lateness
if [ ! -x "$grt_bin" ]; then
  echo "lateness.sh: $grt_bin not built (cmake --build $1 --target bench_lateness)" >&2
  exit 1
fi

status=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# ---- Go (the same environment as run.sh) ---------------------------------
have_go=1
go_bin=$build/bench-go/lateness
if ! command -v go >/dev/null 2>&1; then
  echo "lateness.sh: go is missing (sudo apt-get install golang-go); grt numbers only"
  have_go=0
else
  mkdir -p "$build/bench-go" "$build/bench-go-cache" "$build/bench-go-path"
  if (
    export GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on GOWORK=off CGO_ENABLED=1 \
      GOCACHE="$build/bench-go-cache" GOPATH="$build/bench-go-path"
    cd "$here/go" && go build -o "$go_bin" ./lateness
  ); then
    echo "Go twin built with $(go version | awk '{print $3}') into $build/bench-go"
  else
    echo "lateness.sh: go build of bench/go/lateness failed; grt numbers only" >&2
    have_go=0
    status=1
  fi
fi

# run_one <side> <scenario> <round> <binary>: appends "<side> <metric>
# <value>" for each RESULT line to $work/results, or reports the failure.
run_one() {
  local side=$1 scen=$2 round=$3 bin=$4
  timeout "$limit" "$bin" "$scen" "$secs" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -q "^RESULT lateness_${scen}_p99_us " "$work/out"; then
    echo "  $side $scen round $round: FAILED (exit $rc): $bin $scen $secs" >&2
    tail -n 5 "$work/out" "$work/err" >&2
    status=1
    return
  fi
  awk -v s="$side" '$1 == "RESULT" { print s, $2, $3 }' "$work/out" >>"$work/results"
}

: >"$work/results"
echo "lateness: $runs rounds, grt and Go interleaved; a 1 ms ticker for $secs s per run," \
  "2 Ps; scenarios: $scenarios"
for ((r = 1; r <= runs; r++)); do
  for s in $scenarios; do
    run_one grt "$s" "$r" "$grt_bin"
    [ $have_go = 1 ] && run_one go "$s" "$r" "$go_bin"
  done
  echo "  round $r/$runs done"
done

echo
awk -v scenarios="$scenarios" '
  function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {          # insertion sort, numerically
      t = a[i] + 0
      for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
      a[j + 1] = t
    }
    return n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { vals[$1, $2] = vals[$1, $2] " " $3 }
  END {
    fmt = "%-9s %-12s %12s %12s %8s\n"
    printf fmt, "scenario", "metric", "grt median", "Go median", "grt/Go"
    ns = split(scenarios, sl, " ")
    split("p50_us p99_us max_us threads rss_kib", ml, " ")
    for (i = 1; i <= ns; i++) {
      s = sl[i]
      for (j = 1; j <= 5; j++) {
        m = ml[j]
        name[i, j] = m ~ /_us$/ ? "lateness_" s "_" m : m == "threads" ? "threads_" s : "rss_" s "_kib"
        g = median(vals["grt", name[i, j]]); o = median(vals["go", name[i, j]])
        f = m ~ /_us$/ ? "%.1f" : "%.0f"
        printf fmt, s, m, g == "" ? "n/a" : sprintf(f, g), o == "" ? "n/a" : sprintf(f, o),
          (g == "" || o == "" || o == 0) ? "n/a" : sprintf("%.2f", g / o)
      }
    }
    printf "\nruns per side: raw values\n"
    for (i = 1; i <= ns; i++)
      for (j = 1; j <= 5; j++) {
        printf "  %-24s grt:%s\n", name[i, j], vals["grt", name[i, j]]
        printf "  %-24s  Go:%s\n", "", vals["go", name[i, j]]
      }
  }
' "$work/results"
exit $status
