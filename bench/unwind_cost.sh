#!/usr/bin/env bash
# bench/unwind_cost.sh <builddir>: what a CPU profile sample costs, in parts
# (bench/unwind_cost.c: the walk at depth 10 and 40 with and without frame
# pointers, signal delivery, the delivered timer rate, the tables' memory
# and build time).  Runs <builddir>/bench_unwind_cost BENCH_RUNS times
# (default 3) and prints the median of every RESULT, then the last run's
# full report; then, when valgrind is installed, callgrind's instruction
# counts per walk (deterministic, unlike the times).  Numbers are reported,
# never asserted: the exit status is 0 unless the program failed.
#
# Environment: BENCH_RUNS (default 3), BENCH_TIMEOUT seconds per run (300),
# UNWIND_CALLGRIND=0 skips callgrind.
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "unwind_cost.sh: no build directory $1" >&2
  exit 2
}
runs=${BENCH_RUNS:-3}
limit=${BENCH_TIMEOUT:-300}
bin=$build/bench_unwind_cost
if [ ! -x "$bin" ]; then
  echo "unwind_cost.sh: $bin not built" >&2
  exit 1
fi
# libgrt.so is loaded too, for its table's size and build time
lib=$(ls "$build"/libgrt.so 2>/dev/null)
export GRT_LIB=$lib

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/results"
echo "unwind_cost: $runs runs of $bin"
for ((r = 1; r <= runs; r++)); do
  if ! timeout "$limit" "$bin" >"$work/out" 2>"$work/err"; then
    echo "unwind_cost.sh: run $r failed" >&2
    tail -n 5 "$work/out" "$work/err" >&2
    exit 1
  fi
  awk '$1 == "RESULT" { print $2, $3 }' "$work/out" >>"$work/results"
done

echo
echo "The last run's report (noisy: 2 shared cores):"
grep -v '^RESULT' "$work/out"
echo
echo "Medians of $runs runs:"
awk '
  { vals[$1] = vals[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  END {
    for (i = 1; i <= n; i++) {
      m = order[i]
      k = split(vals[m], a, " ")
      for (x = 2; x <= k; x++) {          # insertion sort, numerically
        t = a[x] + 0
        for (y = x - 1; y >= 1 && a[y] + 0 > t; y--) a[y + 1] = a[y]
        a[y + 1] = t
      }
      med = k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
      printf "  %-28s %10.1f   (%s )\n", m, med, vals[m]
    }
  }
' "$work/results"

# ---- callgrind: instructions per walk ------------------------------------
if [ "${UNWIND_CALLGRIND:-1}" = 0 ]; then exit 0; fi
if ! command -v valgrind >/dev/null 2>&1; then
  echo
  echo "(valgrind is not installed: no instruction counts)"
  exit 0
fi
echo
echo "Instructions per walk (callgrind, only inside walk_n):"
printf "  %-38s %6s %7s %10s %10s\n" "variant" "depth" "frames" "Ir/walk" "Ir/frame"
names=("frame pointers, CFI tables" "no frame pointers, CFI tables"
  "frame pointers, no tables (FP only)" "no FP, CFI, no _dl_find_object")
for d in 10 40; do
  for v in 0 1 2 3; do
    out=$work/cg.$v.$d
    if ! UNWIND_COST_ONE="$v $d" timeout "$limit" valgrind --tool=callgrind \
      --callgrind-out-file="$out" --toggle-collect=walk_n "$bin" >"$work/cgout" 2>"$work/cgerr"; then
      echo "  callgrind run failed (variant $v, depth $d)" >&2
      tail -n 3 "$work/cgerr" >&2
      continue
    fi
    walks=$(awk '$1 == "RESULT" && $2 == "walks_total" { print $3 }' "$work/cgout")
    frames=$(awk '$1 == "RESULT" && $2 == "frames" { print $3 }' "$work/cgout")
    ir=$(awk '/^totals:|^summary:/ { print $2; exit }' "$out")
    awk -v n="${names[$v]}" -v d="$d" -v f="$frames" -v ir="$ir" -v w="$walks" 'BEGIN {
      printf "  %-38s %6d %7d %10.0f %10.1f\n", n, d, f, ir / w, ir / w / (f - 1)
      printf "RESULT walk_ir_v%d_d%d %.0f\n", 0, d, ir / w > "/dev/null"
    }'
  done
done
exit 0
