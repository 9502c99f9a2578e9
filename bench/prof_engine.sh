#!/usr/bin/env bash
# bench/prof_engine.sh <builddir>: the CPU profiler's perf-event engine next
# to its CPU-timer engine, at 1000 and 4000 Hz (PROF_ENGINE_RATES).
#
# Runs BENCH_RUNS rounds (default 5) of <builddir>/bench_prof_engine: per
# round, unprofiled, then each engine at each rate.  Per run it computes:
#   signals/CPU-s  signals delivered (unweighted, the handler's count) per
#                  CPU-second of getrusage user + sys over the window
#   magnitude      the profile's sum of cpu/nanoseconds (go tool pprof -raw)
#                  over that CPU time
#   overhead %     CPU time / the same round's unprofiled CPU time - 1
# and prints the medians, the overhead from the fastest run of each kind
# (min/min: contention on a shared machine only adds CPU time), and the
# cost per delivered signal that min/min implies.  Numbers are reported,
# never asserted; the exit status is 0 unless a program failed.  Where the
# kernel refuses perf_event_open, the perf rows say so and stay empty.
#
# Environment: BENCH_RUNS (5), BENCH_TIMEOUT seconds per run (120),
# PROF_MITERS million iterations per goroutine (1000), PROF_ENGINE_RATES
# ("1000 4000").
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "prof_engine.sh: no build directory $1" >&2
  exit 2
}
runs=${BENCH_RUNS:-5}
limit=${BENCH_TIMEOUT:-120}
miters=${PROF_MITERS:-1000}
rates=${PROF_ENGINE_RATES:-1000 4000}
case $runs in '' | *[!0-9]* | 0)
  echo "prof_engine.sh: BENCH_RUNS must be a positive whole number" >&2
  exit 2
  ;;
esac
bin=$build/bench_prof_engine
if [ ! -x "$bin" ]; then
  echo "prof_engine.sh: $bin not built" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "prof_engine.sh: go is missing (go tool pprof reads the profiles)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home GOCACHE=$work/gocache GOFLAGS='' GOPROXY=off
mkdir -p "$HOME"

status=0
perf_refused=""
# run_one <round> <engine> <hz>: appends "<engine> <hz> <round> cpu wall delivered profile_cpu".
run_one() {
  local round=$1 eng=$2 hz=$3 prof=$work/prof.pb.gz
  rm -f "$prof"
  timeout "$limit" "$bin" "$eng" "$hz" "$prof" "$miters" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ $rc -eq 3 ] && grep -q 'perf refused' "$work/out"; then
    perf_refused=$(cat "$work/out")
    return
  fi
  local vals
  vals=$(awk '$1 ~ /^engine=/ { for (i = 3; i <= 5; i++) { sub(/^[a-z_]+=/, "", $i); v = v " " $i } }
    END { print v }' "$work/out")
  if [ $rc -ne 0 ] || [ -z "$vals" ]; then
    echo "  $eng $hz Hz round $round: FAILED (exit $rc)" >&2
    tail -n 5 "$work/out" "$work/err" >&2
    status=1
    return
  fi
  local total=0
  if [ "$eng" != off ]; then
    total=$(go tool pprof -raw -symbolize=none "$prof" 2>/dev/null | awk '
      /^Samples:/ { s = 1; next }
      /^Locations/ { s = 0 }
      s && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+:$/ { t += $2 + 0 }
      END { printf "%.0f\n", t }')
  fi
  echo "$eng $hz $round$vals $total" >>"$work/results"
}

: >"$work/results"
echo "prof_engine: $runs rounds, 2 goroutines on 2 Ps, $miters M iterations each"
echo "  (each round: unprofiled, then perf and timer at $rates Hz)"
for ((r = 1; r <= runs; r++)); do
  run_one "$r" off 0
  for hz in $rates; do
    [ -z "$perf_refused" ] && run_one "$r" perf "$hz"
    run_one "$r" timer "$hz"
  done
  echo "  round $r/$runs done"
done
[ -n "$perf_refused" ] && echo "$perf_refused: no perf rows"

echo
awk -v rates="$rates" -v runs="$runs" '
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
  function min(list,    a, n, i, m) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) if (i == 1 || a[i] + 0 < m) m = a[i] + 0
    return n ? m : ""
  }
  function add(k, m, v) { vals[k, m] = vals[k, m] " " v }
  function f(v, fmt) { return v == "" ? "n/a" : sprintf(fmt, v) }
  # $1 engine $2 hz $3 round $4 cpu $5 wall $6 delivered $7 profile cpu
  {
    if ($1 == "off") { off[$3] = $4; add("off", "cpu", $4); next }
    k = $1 " " $2
    add(k, "cpu", $4)
    add(k, "dlv", $4 > 0 ? $6 / ($4 / 1e9) : "")
    add(k, "per", $4 > 0 && $2 > 0 ? $6 / ($4 / 1e9) / $2 : "")
    add(k, "mag", $4 > 0 ? $7 / $4 : "")
    add(k, "n", $6)
    if ($3 in off && off[$3] > 0) add(k, "ovh", 100 * ($4 / off[$3] - 1))
  }
  END {
    n = split(rates, rl, " ")
    c0 = min(vals["off", "cpu"])
    fmt = "%-6s %-6s %14s %9s %9s %11s %12s %14s\n"
    printf fmt, "engine", "Hz", "signals/CPU-s", "of rate", "magnitude", "overhead %",
      "ovh min/min", "us per signal"
    for (i = 1; i <= n; i++)
      for (e = 1; e <= 2; e++) {
        k = (e == 1 ? "perf" : "timer") " " rl[i]
        if (vals[k, "cpu"] == "") continue
        c1 = min(vals[k, "cpu"])
        mm = c0 ? 100 * (c1 / c0 - 1) : ""
        # the CPU the profiled run added, over the signals it took
        us = (c0 && median(vals[k, "n"]) > 0) ? (c1 - c0) / 1e3 / median(vals[k, "n"]) : ""
        split(k, kk, " ")
        printf fmt, kk[1], kk[2], f(median(vals[k, "dlv"]), "%.0f"),
          f(median(vals[k, "per"]) == "" ? "" : 100 * median(vals[k, "per"]), "%.0f%%"),
          f(median(vals[k, "mag"]), "%.3f"), f(median(vals[k, "ovh"]), "%+.2f"),
          f(mm, "%+.2f"), f(us, "%.2f")
      }
    printf "unprofiled CPU: median %.3f s, min %.3f s\n", median(vals["off", "cpu"]) / 1e9, c0 / 1e9
    printf "\nraw values, round by round\n"
    printf "  %-11s CPU s:%s\n", "off", fl(vals["off", "cpu"], 1e9)
    for (i = 1; i <= n; i++)
      for (e = 1; e <= 2; e++) {
        k = (e == 1 ? "perf" : "timer") " " rl[i]
        if (vals[k, "cpu"] == "") continue
        printf "  %-11s CPU s:%s\n", k, fl(vals[k, "cpu"], 1e9)
        printf "  %-11s signals/CPU-s:%s\n", "", fl(vals[k, "dlv"], 1)
        printf "  %-11s magnitude:%s\n", "", fl(vals[k, "mag"], 1)
      }
  }
  function fl(list, div,    a, m, i, out) {
    m = split(list, a, " ")
    for (i = 1; i <= m; i++) out = out " " sprintf("%.4g", a[i] / div)
    return out
  }
' "$work/results"
exit $status
