#!/bin/sh
# grt_pprof_cli: the grt-pprof executable.  `grt-pprof top [-n N] FILE` on a
# real profile (written by examples/primes under GRT_CPUPROFILE) exits 0 and
# prints the table only: a header, then min(N, functions) rows, 10 by
# default; -n 3 and -n3 print the first 3 rows of the longer table.  Bad
# usage exits 2, a bad file (missing, a directory, garbage, gzip garbage,
# empty) or a failed write exits 1; each failure prints exactly one line on
# stderr and nothing on stdout, and nothing crashes.
# Usage: grt_pprof_cli.sh <grt-pprof> <primes>
# (Under a cross build's emulator, GRT_TEST_EMULATOR runs both programs.)
set -u
tool=$1 primes=$2
emu=${GRT_TEST_EMULATOR:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

# run WANT_STATUS ARGS...: runs the tool, stdout to $tmp/out, stderr to
# $tmp/err; checks the exit status and, for a failure, an empty stdout and
# one stderr line: "grt-pprof: ..." for a bad file, the usage for bad usage.
run() {
  want=$1
  shift
  $emu "$tool" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  echo "grt-pprof $* -> $got: $(head -c 300 "$tmp/err")"
  [ "$got" -eq "$want" ] || fail "grt-pprof $*: exit status $got, want $want"
  if [ "$want" -ne 0 ]; then
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "grt-pprof $*: stderr is not one line"
    [ ! -s "$tmp/out" ] || fail "grt-pprof $*: printed on stdout"
  fi
  if [ "$want" -eq 1 ]; then
    grep -q '^grt-pprof: ' "$tmp/err" || fail "grt-pprof $*: the error line is not grt-pprof's"
  fi
  if [ "$want" -eq 2 ]; then
    grep -q 'usage: grt-pprof top \[-n N\] FILE$' "$tmp/err" || fail "grt-pprof $*: no usage"
  fi
}

# ---- a real profile ----
prof=$tmp/primes.pb.gz
GRT_CPUPROFILE=$prof GRT_CPUPROFILE_HZ=10000 $emu "$primes" 1000 >/dev/null 2>&1 ||
  fail "primes did not run"

# check_table N: $tmp/out is a table of min(N, functions) rows.
check_table() {
  out=$tmp/out
  sed -n 1p "$out" | grep -q '^Total: .* CPU in [0-9]* samples' || fail "no Total line"
  shown=$(sed -n 's/^Showing top \([0-9]*\) of \([0-9]*\) functions, accounting for .*/\1/p' "$out")
  nfun=$(sed -n 's/^Showing top \([0-9]*\) of \([0-9]*\) functions, accounting for .*/\2/p' "$out")
  [ -n "$shown" ] && [ -n "$nfun" ] || fail "no Showing line"
  [ "$(sed -n 3p "$out")" = "      flat  flat%   sum%        cum   cum%  function" ] ||
    fail "no column header"
  rows=$(($(wc -l <"$out") - 3))
  want=$1
  [ "${nfun:-0}" -lt "$want" ] && want=$nfun
  [ "$rows" -eq "$want" ] && [ "${shown:-x}" = "$want" ] ||
    fail "$rows rows, 'Showing top ${shown:-?}' of ${nfun:-?}, want $want"
  [ ! -s "$tmp/err" ] || fail "stderr not empty"
}

run 0 top "$prof"
check_table 10
cat "$tmp/out"
run 0 top -n 1000 "$prof"
check_table 1000
[ "${nfun:-0}" -ge 3 ] || fail "the profile has fewer than 3 functions"
tail -n +4 "$tmp/out" | head -n 3 >"$tmp/first3"
run 0 top -n 3 "$prof"
check_table 3
tail -n +4 "$tmp/out" | cmp -s - "$tmp/first3" || fail "-n 3 is not the first 3 rows"
cp "$tmp/out" "$tmp/n3"
run 0 top -n3 -- "$prof"
cmp -s "$tmp/out" "$tmp/n3" || fail "-n3 -- FILE differs from -n 3 FILE"
run 0 --help
grep -q '^usage: grt-pprof top \[-n N\] FILE$' "$tmp/out" || fail "--help prints no usage"

# ---- bad files: exit 1 ----
run 1 top "$tmp/does-not-exist"
grep -q "^grt-pprof: $tmp/does-not-exist: No such file or directory$" "$tmp/err" ||
  fail "missing file: wrong message"
run 1 top "$tmp"
head -c 4096 /dev/urandom >"$tmp/garbage"
printf '\037\213' >"$tmp/gzgarbage"
head -c 4096 /dev/urandom >>"$tmp/gzgarbage"
: >"$tmp/empty"
for f in garbage gzgarbage empty; do
  run 1 top "$tmp/$f"
  grep -q "^grt-pprof: $tmp/$f: not a pprof profile (.*)$" "$tmp/err" ||
    fail "$f: wrong message"
done
if [ -w /dev/full ]; then # the table cannot be written
  $emu "$tool" top "$prof" >/dev/full 2>"$tmp/err"
  got=$?
  echo "grt-pprof top FILE >/dev/full -> $got: $(cat "$tmp/err")"
  [ "$got" -eq 1 ] || fail ">/dev/full: exit status $got, want 1"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail ">/dev/full: stderr is not one line"
fi

# ---- bad usage: exit 2 ----
run 2
run 2 top
run 2 frob "$prof"
run 2 top -n 0 "$prof"
run 2 top -n -5 "$prof"
run 2 top -n x "$prof"
run 2 top -n 99999999999 "$prof"
run 2 top "$prof" -n
run 2 top -x "$prof"
run 2 top "$prof" "$prof"

if [ "$fails" -ne 0 ]; then
  echo "$fails failures"
  exit 1
fi
echo "grt-pprof: ok"
