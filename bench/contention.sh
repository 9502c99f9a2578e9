#!/usr/bin/env bash
# bench/contention.sh <builddir>: what the block and mutex profiles cost,
# next to Go's, on the same benchmarks in the same runs.
#
# Builds the Go twins (bench/go/chan_pingpong, bench/go/mutex_contend,
# standard library only, offline) into a temporary directory, then runs
# BENCH_RUNS rounds (default 5).  A round runs every benchmark in every
# profile mode, grt then Go, interleaved:
#   off       no profile
#   block1    block profile at rate 1 (every blocking event)
#   mutex1    mutex profile at fraction 1 (every contended handoff)
#   typical   block rate 10000 ns (10 us) and mutex fraction 5 together,
#             settings many Go services use
# on chan_pingpong 1 P and 2 Ps (time per round trip) and mutex_contend
# 2 Ps (8 goroutines, time per lock/unlock).  The programs take the
# profile settings as arguments (benchutil.h, bench/go/contention) and
# write the profiles after the measured round; `go tool pprof -raw` reads
# how many events they recorded (contentions/count: exact at rate 1, an
# estimate when sampled).  Printed per benchmark and mode: the grt and Go
# medians, the medians of each round's on/off ratio (grt, Go), the grt/Go
# ratio of the medians, and events recorded per operation (block+mutex,
# per side; warm-up operations included in the divisor).
#
# With CONTENTION_CALLGRIND=1 (valgrind needed) it also runs each grt
# benchmark once under callgrind, off and with both profiles at 1, and
# prints instructions per operation (the whole run's count, start-up
# included, over the operations run, warm-up included).
# Numbers are reported, never asserted: the exit status is 0 unless a
# program failed to build or run.
#
# Environment: BENCH_RUNS (default 5), BENCH_TIMEOUT seconds per run (120),
# CONTENTION_CALLGRIND (0).
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "contention.sh: no build directory $1" >&2
  exit 2
}
runs=${BENCH_RUNS:-5}
limit=${BENCH_TIMEOUT:-120}
case $runs in '' | *[!0-9]* | 0)
  echo "contention.sh: BENCH_RUNS must be a positive whole number" >&2
  exit 2
  ;;
esac
if ! command -v go >/dev/null 2>&1; then
  echo "contention.sh: go is missing; install it with: sudo apt-get install golang-go" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS=-mod=mod GOPROXY=off \
  GO111MODULE=on GOWORK=off CGO_ENABLED=0
mkdir -p "$HOME"
for pkg in chan_pingpong mutex_contend; do
  if ! (cd "$here/go" && go build -o "$work/go_$pkg" "./$pkg"); then
    echo "contention.sh: go build of bench/go/$pkg failed" >&2
    exit 1
  fi
done

# name | program | procs | operations per run (warm-up included)
benches=(
  "chan_rt_ns_1p|chan_pingpong|1|2050000"
  "chan_rt_ns_2p|chan_pingpong|2|2050000"
  "mutex_op_ns_2p|mutex_contend|2|2050000"
)
# mode | block rate ns | mutex fraction
modes=("off|0|0" "block1|1|0" "mutex1|0|1" "typical|10000|5")

status=0
# contentions <profile>: the sum of its contentions/count values.
contentions() {
  [ -s "$1" ] || {
    echo 0
    return
  }
  go tool pprof -raw -symbolize=none "$1" 2>/dev/null | awk '
    /^Samples:/ { s = 1; next }
    /^Locations/ { s = 0 }
    s && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+:$/ { n += $1 }
    END { printf "%.0f\n", n }'
}

# run_one <side> <round> <name> <prog> <procs> <mode> <block> <mutex>:
# appends "<side> <name> <mode> <round> <value> <events>" to $work/results.
run_one() {
  local side=$1 round=$2 name=$3 prog=$4 procs=$5 mode=$6 brate=$7 mfrac=$8 bin
  if [ "$side" = grt ]; then bin=$build/bench_$prog; else bin=$work/go_$prog; fi
  local pre=$work/prof
  rm -f "$pre".*.pb.gz
  timeout "$limit" "$bin" "$procs" "$brate" "$mfrac" "$pre" >"$work/out" 2>"$work/err"
  local rc=$?
  local val
  val=$(awk -v m="$name" '$1 == "RESULT" && $2 == m { v = $3 } END { print v }' "$work/out")
  if [ $rc -ne 0 ] || [ -z "$val" ]; then
    echo "  $side $name $mode round $round: FAILED (exit $rc): $bin $procs $brate $mfrac" >&2
    tail -n 5 "$work/out" "$work/err" >&2
    status=1
    return
  fi
  local ev=0
  if [ "$mode" != off ]; then
    ev=$(($(contentions "$pre.block.pb.gz") + $(contentions "$pre.mutex.pb.gz")))
  fi
  echo "$side $name $mode $round $val $ev" >>"$work/results"
}

: >"$work/results"
echo "contention: $runs rounds; modes off, block1 (block rate 1), mutex1 (mutex fraction 1),"
echo "  typical (block rate 10000 ns + mutex fraction 5); grt and Go interleaved"
for ((r = 1; r <= runs; r++)); do
  for b in "${benches[@]}"; do
    IFS='|' read -r name prog procs ops <<<"$b"
    for m in "${modes[@]}"; do
      IFS='|' read -r mode brate mfrac <<<"$m"
      run_one grt "$r" "$name" "$prog" "$procs" "$mode" "$brate" "$mfrac"
      run_one go "$r" "$name" "$prog" "$procs" "$mode" "$brate" "$mfrac"
    done
  done
  echo "  round $r/$runs done"
done

for b in "${benches[@]}"; do echo "$b"; done >"$work/benches"
echo
awk -F'|' -v results="$work/results" -v modes="off block1 mutex1 typical" '
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
  function f(v, fmt) { return v == "" ? "n/a" : sprintf(fmt, v) }
  BEGIN {
    while ((getline line < results) > 0) {
      split(line, x, " ")    # side name mode round value events
      val[x[1], x[2], x[3], x[4]] = x[5]
      vals[x[1], x[2], x[3]] = vals[x[1], x[2], x[3]] " " x[5]
      evs[x[1], x[2], x[3]] = evs[x[1], x[2], x[3]] " " x[6]
      if (x[4] > maxround) maxround = x[4]
    }
    nm = split(modes, ml, " ")
    fmt = "%-15s %-8s %9s %9s %8s %8s %7s %9s %9s\n"
    printf fmt, "benchmark", "mode", "grt ns", "Go ns", "grt x", "Go x", "grt/Go", "grt ev/op", "Go ev/op"
  }
  {
    name = $1; ops = $4
    for (i = 1; i <= nm; i++) {
      m = ml[i]
      g = median(vals["grt", name, m]); o = median(vals["go", name, m])
      for (s = 1; s <= 2; s++) {
        side = s == 1 ? "grt" : "go"; rl = ""
        for (r = 1; r <= maxround; r++)
          if (((side, name, m, r) in val) && ((side, name, "off", r) in val) && val[side, name, "off", r] > 0)
            rl = rl " " val[side, name, m, r] / val[side, name, "off", r]
        ratio[side] = median(rl)
      }
      ge = median(evs["grt", name, m]); oe = median(evs["go", name, m])
      printf fmt, name, m, f(g, "%.1f"), f(o, "%.1f"),
        m == "off" ? "-" : f(ratio["grt"], "%.2f"), m == "off" ? "-" : f(ratio["go"], "%.2f"),
        (g == "" || o == "" || o == 0) ? "n/a" : sprintf("%.2f", g / o),
        m == "off" ? "-" : f(ge == "" ? "" : ge / ops, "%.3f"),
        m == "off" ? "-" : f(oe == "" ? "" : oe / ops, "%.3f")
    }
  }
  END {
    printf "\n(grt x, Go x: the median of each round'"'"'s on/off ratio; ev/op: events the\n"
    printf " profiles recorded (contentions/count) per operation)\n\nraw values, ns per op\n"
  }
' "$work/benches"
awk '!seen[$2 " " $3]++ { order[++n] = $2 " " $3 } { v[$1, $2 " " $3] = v[$1, $2 " " $3] " " $5 }
  END { for (i = 1; i <= n; i++) printf "  %-24s grt:%s\n  %-24s  Go:%s\n", order[i],
    v["grt", order[i]], "", v["go", order[i]] }' "$work/results"

# ---- callgrind: instructions per operation, grt off and at rate 1 --------
if [ "${CONTENTION_CALLGRIND:-0}" = 1 ]; then
  if ! command -v valgrind >/dev/null 2>&1; then
    echo "contention.sh: CONTENTION_CALLGRIND=1 needs valgrind" >&2
    exit 1
  fi
  echo
  echo "callgrind: grt instructions per operation (whole run / operations)"
  printf "%-15s %12s %12s %12s %12s\n" "benchmark" "off Ir/op" "rate1 Ir/op" "added Ir/op" "rate1 ev/op"
  for b in "${benches[@]}"; do
    IFS='|' read -r name prog procs ops <<<"$b"
    line="$name"
    ir_off=""
    for m in "0 0" "1 1"; do
      read -r brate mfrac <<<"$m"
      rm -f "$work"/prof.*.pb.gz
      valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$build/bench_$prog" "$procs" "$brate" "$mfrac" "$work/prof" >/dev/null 2>"$work/cg"
      ir=$(awk '/Collected :/ { v = $NF } END { print v }' "$work/cg")
      if [ -z "$ir" ]; then
        echo "  callgrind of bench_$prog $procs $m failed" >&2
        tail -n 5 "$work/cg" >&2
        status=1
        continue
      fi
      line="$line $(awk -v i="$ir" -v n="$ops" 'BEGIN { printf "%.0f", i / n }')"
      [ -z "$ir_off" ] && ir_off=$ir && continue
      line="$line $(awk -v a="$ir" -v b="$ir_off" -v n="$ops" 'BEGIN { printf "%.0f", (a - b) / n }')"
      ev=$(($(contentions "$work/prof.block.pb.gz") + $(contentions "$work/prof.mutex.pb.gz")))
      line="$line $(awk -v e="$ev" -v n="$ops" 'BEGIN { printf "%.3f", e / n }')"
    done
    # shellcheck disable=SC2086
    printf "%-15s %12s %12s %12s %12s\n" $line
  done
fi
exit $status
