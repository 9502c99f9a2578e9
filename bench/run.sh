#!/usr/bin/env bash
# bench/run.sh <builddir>: runs grt's benchmarks next to their Go twins.
#
# Builds the Go twins (bench/go, standard library only, offline) into
# <builddir>/bench-go/, then runs every benchmark pair BENCH_RUNS times
# (default 5), interleaved: grt, Go, grt, Go, ...  Each program prints one
# line "RESULT <metric> <value>".  Prints the medians and the grt/Go ratio
# per metric, with the grt target for reference (a value, or a ratio to Go).
# Numbers are reported, never asserted: the exit status is 0 unless a
# program failed to build or run, or Go is missing and cannot be installed.
#
# Environment: BENCH_RUNS (default 5), BENCH_TIMEOUT seconds per run (300),
# BENCH_ONLY (an awk regex: only the metrics it matches; then the profiler
# scripts (prof_fidelity, prof_engine, contention) and echo are skipped),
# BENCH_BASE (another build directory, e.g. of an older commit: its grt
# binaries run in the same rounds, and the table adds its medians and its
# ratio to the same Go runs, so a change is judged by same-run ratios).
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "run.sh: no build directory $1 (run 'make build' first)" >&2
  exit 2
}
runs=${BENCH_RUNS:-5}
only=${BENCH_ONLY:-}
base=""
if [ -n "${BENCH_BASE:-}" ]; then
  base=$(cd "$BENCH_BASE" 2>/dev/null && pwd) || {
    echo "run.sh: no build directory $BENCH_BASE (BENCH_BASE)" >&2
    exit 2
  }
fi
limit=${BENCH_TIMEOUT:-300}
case $runs in '' | *[!0-9]* | 0)
  echo "run.sh: BENCH_RUNS must be a positive whole number" >&2
  exit 2
  ;;
esac

# grt binary and args | Go binary and args | metric | grt target
benches=(
  "bench_yield|yield|yield_ns|<= 15"
  "bench_chan_pingpong 1|chan_pingpong 1|chan_rt_ns_1p|<= 100"
  "bench_chan_pingpong 2|chan_pingpong 2|chan_rt_ns_2p|<= 200"
  "bench_spawn|spawn|spawn_ns|<= 150"
  "bench_parked_rss|parked_rss|parked_kib|<= 4.6"
  "bench_ext_call|ext_call|ext_call_ns|<= 0.5x Go"
  "bench_ext_callback|ext_callback|ext_callback_ns|<= 0.5x Go"
  "bench_ext_nested|ext_nested|ext_nested_ns|<= 0.5x Go"
  "bench_mutex_contend 2|mutex_contend 2|mutex_op_ns_2p|-"
)

status=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- Go ------------------------------------------------------------------
have_go=1
if ! command -v go >/dev/null 2>&1; then
  # golang-go is in deps/debian.txt: install what is missing (as root).
  sh "$(dirname "$0")/../deps/install.sh" || have_go=0
  command -v go >/dev/null 2>&1 || have_go=0
fi

gobin=$build/bench-go
if [ $have_go = 1 ]; then
  mkdir -p "$gobin" "$build/bench-go-cache" "$build/bench-go-path"
  # The ext_* twins use cgo (they need gcc).
  export GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on GOWORK=off CGO_ENABLED=1 \
    GOCACHE="$build/bench-go-cache" GOPATH="$build/bench-go-path"
  for pkg in yield chan_pingpong spawn parked_rss ext_call ext_callback ext_nested mutex_contend; do
    if ! (cd "$here/go" && go build -o "$gobin/$pkg" "./$pkg"); then
      echo "run.sh: go build of bench/go/$pkg failed" >&2
      status=1
    fi
  done
  echo "Go twins built with $(go version | awk '{print $3}') into $gobin"
else
  status=1
fi

# ---- runs ----------------------------------------------------------------
# run_one <side> <metric> <command...>: appends "<side> <metric> <value>" to
# $work/results, or reports the failure.
run_one() {
  local side=$1 metric=$2
  shift 2
  if [ ! -x "$1" ]; then
    echo "  $side $metric: $1 not built" >&2
    status=1
    return
  fi
  timeout "$limit" "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  local val
  val=$(awk -v m="$metric" '$1 == "RESULT" && $2 == m { v = $3 } END { print v }' "$work/out")
  if [ $rc -ne 0 ] || [ -z "$val" ]; then
    echo "  $side $metric: FAILED (exit $rc): $*" >&2
    tail -n 5 "$work/out" "$work/err" >&2
    status=1
    return
  fi
  echo "$side $metric $val" >>"$work/results"
}

: >"$work/results"
echo "Running $runs rounds (grt and Go interleaved) ..."
for ((r = 1; r <= runs; r++)); do
  for b in "${benches[@]}"; do
    IFS='|' read -r gcmd gocmd metric target <<<"$b"
    [ -n "$only" ] && ! awk -v m="$metric" -v re="$only" 'BEGIN { exit !(m ~ re) }' && continue
    read -r -a gargs <<<"$gcmd"
    read -r -a goargs <<<"$gocmd"
    goargs[0]=$gobin/${goargs[0]}
    if [ -n "$base" ]; then
      bargs=("${gargs[@]}")
      bargs[0]=$base/${gargs[0]}
      run_one base "$metric" "${bargs[@]}"
    fi
    gargs[0]=$build/${gargs[0]}
    run_one grt "$metric" "${gargs[@]}"
    [ $have_go = 1 ] && run_one go "$metric" "${goargs[@]}"
  done
  echo "  round $r/$runs done"
done

# ---- table ---------------------------------------------------------------
for b in "${benches[@]}"; do
  IFS='|' read -r _ _ metric target <<<"$b"
  [ -n "$only" ] && ! awk -v m="$metric" -v re="$only" 'BEGIN { exit !(m ~ re) }' && continue
  echo "$metric|$target"
done >"$work/order"

echo
awk -F'|' -v results="$work/results" -v withbase="${base:+1}" '
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
  BEGIN {
    while ((getline line < results) > 0) {
      split(line, f, " ")
      vals[f[1], f[2]] = vals[f[1], f[2]] " " f[3]
    }
  }
  {
    order[++n] = $1
    target[$1] = $2
  }
  END {
    fmt = "%-36s %12s %12s %8s %11s"
    printf fmt, "metric", "grt median", "Go median", "grt/Go", "target"
    if (withbase) printf " %12s %9s", "base median", "base/Go"
    printf "\n"
    for (i = 1; i <= n; i++) {
      m = order[i]
      g = median(vals["grt", m]); o = median(vals["go", m])
      gs = g == "" ? "FAILED" : sprintf("%.2f", g)
      os = o == "" ? "n/a" : sprintf("%.2f", o)
      rs = (g == "" || o == "" || o == 0) ? "n/a" : sprintf("%.2f", g / o)
      printf fmt, m, gs, os, rs, target[m]
      if (withbase) {
        b = median(vals["base", m])
        bs = b == "" ? "FAILED" : sprintf("%.2f", b)
        brs = (b == "" || o == "" || o == 0) ? "n/a" : sprintf("%.2f", b / o)
        printf " %12s %9s", bs, brs
      }
      printf "\n"
    }
    printf "\nruns per side: raw values\n"
    for (i = 1; i <= n; i++) {
      m = order[i]
      printf "  %-36s grt:%s\n  %-36s  Go:%s\n", m, vals["grt", m], "", vals["go", m]
      if (withbase) printf "  %-36s base:%s\n", "", vals["base", m]
    }
  }
' "$work/order"

[ -n "$only" ] && exit $status
[ $have_go = 1 ] && { echo; "$here/prof_fidelity.sh" "$build" || status=1; } # the CPU profiler
[ $have_go = 1 ] && { echo; "$here/prof_engine.sh" "$build" || status=1; } # perf vs timer engine
[ $have_go = 1 ] && { echo; "$here/contention.sh" "$build" || status=1; } # block/mutex profiles
[ $have_go = 1 ] && { echo; "$here/echo.sh" "$build" || status=1; } # TCP echo server vs Go
echo; "$here/unwind_cost.sh" "$build" || status=1 # a profile sample's cost, in parts
exit $status
