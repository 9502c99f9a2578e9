#!/usr/bin/env bash
# bench/prof_fidelity.sh <builddir>: how much the CPU profiler costs and how
# true its profiles are, next to Go's, on the same workload in the same run.
#
# Builds the Go twin (bench/go/prof_fidelity, standard library only, offline)
# into a temporary directory, then for each rate (100, 1000, 4000 Hz) runs
# BENCH_RUNS rounds (default 5) of, interleaved: grt unprofiled, grt
# profiled, Go unprofiled, Go profiled (<builddir>/bench_prof_fidelity and
# its twin; each prints "hz= cpu_ns= wall_ns= stop_ns=").  It reads every
# profile with `go tool pprof -raw -symbolize=none` and computes, per round:
#   overhead     profiled CPU / the adjacent unprofiled run's CPU - 1
#                (getrusage user + sys over the measured window)
#   magnitude    the profile's sum of cpu/nanoseconds / the profiled run's CPU
#   attribution  |hog70 / (hog70 + hog30) - 0.7|, where hogN is the cpu of
#                the samples whose stack holds hogN (its cum; flat is the same
#                but for Go's runtime.asyncPreempt frames on top of a hog)
#   stop         the wall time of grt_prof_stop / pprof.StopCPUProfile
# It prints the medians per rate for grt and Go, the grt/Go ratio where a
# ratio means something, two estimates less sensitive to noise (the overhead
# from the fastest profiled and unprofiled runs, and the attribution error of
# the rounds pooled), and the raw values (with hog70's share, not the error).
# Numbers are reported, never asserted: the exit status is 0 unless a
# program failed to build or run.
#
# Environment: BENCH_RUNS rounds (default 5), BENCH_TIMEOUT seconds per run
# (120), PROF_MITERS million iterations per goroutine (1000: about 2.2 s of
# CPU per run here), PROF_RATES (default "100 1000 4000").
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <builddir>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || {
  echo "prof_fidelity.sh: no build directory $1" >&2
  exit 2
}
runs=${BENCH_RUNS:-5}
limit=${BENCH_TIMEOUT:-120}
miters=${PROF_MITERS:-1000}
rates=${PROF_RATES:-100 1000 4000}
case $runs in '' | *[!0-9]* | 0)
  echo "prof_fidelity.sh: BENCH_RUNS must be a positive whole number" >&2
  exit 2
  ;;
esac
grt_bin=$build/bench_prof_fidelity
if [ ! -x "$grt_bin" ]; then
  echo "prof_fidelity.sh: $grt_bin not built" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "prof_fidelity.sh: go is missing; install it with: sudo apt-get install golang-go" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# go build and go tool pprof write nothing outside $work, and need no network.
export HOME=$work/home GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS='' GOPROXY=off \
  GO111MODULE=on GOWORK=off CGO_ENABLED=0
mkdir -p "$HOME"
go_bin=$work/go_prof_fidelity
if ! (cd "$here/go" && go build -o "$go_bin" ./prof_fidelity); then
  echo "prof_fidelity.sh: go build of bench/go/prof_fidelity failed" >&2
  exit 1
fi

status=0
# profile_sums <profile>: prints "<sum of cpu> <cpu with hog70> <cpu with hog30>".
profile_sums() {
  go tool pprof -raw -symbolize=none "$1" 2>"$work/pprof_err" | awk '
    /^Samples:/ { sec = "s"; next }
    /^Locations/ { sec = "l"; next }
    /^Mappings/ { sec = "" }
    # a sample: "  count  cpu: loc loc ...", leaf first
    sec == "s" && $2 ~ /^[0-9]+:$/ {
      n++; cpu[n] = $2 + 0; locs[n] = ""
      for (i = 3; i <= NF; i++) locs[n] = locs[n] " " $i
    }
    # a location: "  id: 0xaddr [M=m] function file:line s=0"; its first
    # line is the innermost function (continuation lines have no id)
    sec == "l" && $1 ~ /^[0-9]+:$/ { fn[$1 + 0] = ($3 ~ /^M=/) ? $4 : $3 }
    END {
      for (s = 1; s <= n; s++) {
        total += cpu[s]
        k = split(locs[s], l, " "); in70 = in30 = 0
        for (i = 1; i <= k; i++) {
          if (fn[l[i]] ~ /(^|\.)hog70$/) in70 = 1
          if (fn[l[i]] ~ /(^|\.)hog30$/) in30 = 1
        }
        if (in70) h70 += cpu[s]
        if (in30) h30 += cpu[s]
      }
      printf "%.0f %.0f %.0f\n", total, h70, h30   # not %d: mawk caps it at 2^31 - 1
    }'
}

# run_one <side> <rate> <round> <hz>: runs one program (hz 0: unprofiled) and
# appends "<side> <rate> <round> <on|off> cpu wall stop total h70 h30".
run_one() {
  local side=$1 rate=$2 round=$3 hz=$4 bin mode=off prof=$work/prof.pb.gz sums="0 0 0"
  if [ "$side" = grt ]; then bin=$grt_bin; else bin=$go_bin; fi
  [ "$hz" != 0 ] && mode=on
  rm -f "$prof"
  timeout "$limit" "$bin" "$hz" "$prof" "$miters" >"$work/out" 2>"$work/err"
  local rc=$?
  local vals
  vals=$(awk '$1 ~ /^hz=/ {
      for (i = 2; i <= 4; i++) { sub(/^[a-z_]+=/, "", $i); v = v " " $i }
    } END { print v }' "$work/out")
  if [ $rc -ne 0 ] || [ -z "$vals" ]; then
    echo "  $side $hz Hz round $round: FAILED (exit $rc): $bin $hz $prof $miters" >&2
    tail -n 5 "$work/out" "$work/err" >&2
    status=1
    return
  fi
  if [ $mode = on ]; then
    sums=$(profile_sums "$prof")
    if [ -z "$sums" ] || [ "${sums%% *}" = 0 ]; then
      echo "  $side $hz Hz round $round: no samples read from the profile" >&2
      cat "$work/pprof_err" >&2
      status=1
      return
    fi
  fi
  echo "$side $rate $round $mode$vals $sums" >>"$work/results"
}

: >"$work/results"
echo "prof_fidelity: $runs rounds per rate, 2 goroutines on 2 Ps, $miters M iterations each"
echo "  (each round: grt unprofiled, grt profiled, Go unprofiled, Go profiled)"
for rate in $rates; do
  for ((r = 1; r <= runs; r++)); do
    run_one grt "$rate" "$r" 0
    run_one grt "$rate" "$r" "$rate"
    run_one go "$rate" "$r" 0
    run_one go "$rate" "$r" "$rate"
  done
  echo "  $rate Hz done"
done

echo
awk -v rates="$rates" -v runs="$runs" '
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
  function abs(x) { return x < 0 ? -x : x }
  function min(list,    a, n, i, m) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) if (i == 1 || a[i] + 0 < m) m = a[i] + 0
    return n ? m : ""
  }
  function add(side, rate, m, v) { vals[side, rate, m] = vals[side, rate, m] " " v }
  # one cell of the table: the median of metric m, printed with format f
  function cell(side, rate, m, f,    v) {
    v = median(vals[side, rate, m])
    return v == "" ? "n/a" : sprintf(f, v)
  }
  # ratio: whether grt/Go means something for m
  function row(rate, label, m, f, ratio, target,    g, o, rs) {
    g = median(vals["grt", rate, m]); o = median(vals["go", rate, m])
    rs = (!ratio || g == "" || o == "" || o == 0) ? "-" : sprintf("%.2f", g / o)
    printf "%-6s %-20s %11s %11s %7s%s\n", rate, label, cell("grt", rate, m, f),
      cell("go", rate, m, f), rs, target == "" ? "" : "  " target
  }
  # $1 side, $2 rate, $3 round, $4 on|off, $5 cpu, $6 wall, $7 stop, $8 total, $9 h70, $10 h30
  {
    k = $1 SUBSEP $2 SUBSEP $3
    if ($4 == "off") { off[k] = $5; next }
    on[k] = $0
  }
  END {
    n = split(rates, rl, " ")
    for (si = 1; si <= 2; si++) {
      s = si == 1 ? "grt" : "go"
      for (i = 1; i <= n; i++) {
        for (round = 1; round <= runs; round++) {
          k = s SUBSEP rl[i] SUBSEP round
          if (k in off) add(s, rl[i], "cpu0", off[k] / 1e9)
          if (!(k in on)) continue
          split(on[k], f, " ")
          cpu = f[5]
          if (k in off && off[k] > 0) add(s, rl[i], "ovh", 100 * (cpu / off[k] - 1))
          if (cpu > 0) add(s, rl[i], "mag", f[8] / cpu)
          if (f[9] + f[10] > 0) {
            add(s, rl[i], "share", f[9] / (f[9] + f[10]))
            add(s, rl[i], "attr", abs(f[9] / (f[9] + f[10]) - 0.7))
          }
          add(s, rl[i], "stop", f[7] / 1e6)
          add(s, rl[i], "cpu", cpu / 1e9)
          h70[s, rl[i]] += f[9]; h30[s, rl[i]] += f[10]
        }
      }
    }
    printf "%-6s %-20s %11s %11s %7s  %s\n", "Hz", "metric (median)", "grt", "Go",
      "grt/Go", "grt target"
    for (i = 1; i <= n; i++) {
      r = rl[i]
      row(r, "overhead %", "ovh", "%+.2f", 0, r == 100 ? "<= +0.3" : r == 1000 ? "<= +0.5" : "")
      # contention on a shared machine only adds CPU time, so the fastest
      # run of each kind is the least disturbed one
      g0 = min(vals["grt", r, "cpu0"]); g1 = min(vals["grt", r, "cpu"])
      o0 = min(vals["go", r, "cpu0"]); o1 = min(vals["go", r, "cpu"])
      printf "%-6s %-20s %11s %11s %7s\n", r, "overhead %, min/min",
        g0 ? sprintf("%+.2f", 100 * (g1 / g0 - 1)) : "n/a",
        o0 ? sprintf("%+.2f", 100 * (o1 / o0 - 1)) : "n/a", "-"
      row(r, "magnitude", "mag", "%.3f", 1, "0.97 .. 1.03")
      row(r, "attribution error", "attr", "%.4f", 0, "<= 0.02")
      pooled_g = h70["grt", r] + h30["grt", r]
      pooled_o = h70["go", r] + h30["go", r]
      printf "%-6s %-20s %11s %11s %7s\n", r, "attr. error, pooled",
        pooled_g ? sprintf("%.4f", abs(h70["grt", r] / pooled_g - 0.7)) : "n/a",
        pooled_o ? sprintf("%.4f", abs(h70["go", r] / pooled_o - 0.7)) : "n/a", "-"
      row(r, "stop ms", "stop", "%.1f", 1, "")
      row(r, "CPU s, unprofiled", "cpu0", "%.3f", 1, "")
    }
    printf "\nraw values, round by round\n"
    for (i = 1; i <= n; i++) {
      r = rl[i]
      split("ovh mag share stop cpu0 cpu", ms, " ")
      split("overhead % | magnitude | hog70 share | stop ms | CPU s, unprofiled | " \
        "CPU s, profiled", ls, " [|] ")
      for (j = 1; j <= 6; j++) {
        printf "  %-5s %-20s grt:%s\n", r, ls[j], fmtlist(vals["grt", r, ms[j]])
        printf "  %-5s %-20s  Go:%s\n", "", "", fmtlist(vals["go", r, ms[j]])
      }
    }
  }
  function fmtlist(list,    a, n, i, out) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) out = out " " sprintf("%.4g", a[i])
    return out
  }
' "$work/results"

exit $status
