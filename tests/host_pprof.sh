#!/bin/sh
# host_pprof: a CPU profile that grt wrote on the target reads with the
# build host's `go tool pprof -raw` (in a cross build, the program runs
# under the emulator and the tool is the host's own: an x86-64 pprof
# reading an aarch64 profile).  Without symbolizing anything itself
# (-symbolize=none), the tool must find in the profile:
#   - the program's hot function named, as the leaf of samples, at an
#     address in the program's mapping;
#   - that mapping with the program's GNU build ID (as readelf reads it
#     from the file) and [FN]; libgrt's mapping with libgrt's build ID.
# Skips (77) without go.
# Usage: host_pprof.sh <program> <libgrt> <readelf> [emulator]
set -u
prog=$1 lib=$2 readelf=$3 emu=${4:-}
if ! command -v go >/dev/null 2>&1; then
  echo "SKIP: go (for go tool pprof) is not on PATH"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

# ---- the profile, written on the target ----
prof=$tmp/cpu.pb.gz
if [ -n "$emu" ]; then
  echo "running $prog under $emu"
  "$emu" "$prog" "$prof" || fail "the program failed under $emu (exit status $?)"
else
  "$prog" "$prof" || fail "the program failed (exit status $?)"
fi
[ -s "$prof" ] || { fail "no profile written"; exit 1; }

# ---- read on the host ----
# go's HOME and GOCACHE in the temporary directory: nothing written outside.
HOME=$tmp GOCACHE=$tmp/gocache GOFLAGS= go tool pprof -raw -symbolize=none "$prof" \
  >"$tmp/raw" 2>"$tmp/err" || { cat "$tmp/err"; fail "go tool pprof -raw failed"; exit 1; }
echo "$(go version); $(grep -c '' "$tmp/raw") lines of -raw"
grep -q '^PeriodType: cpu nanoseconds$' "$tmp/raw" || fail "not a CPU profile"

# The build ID of an ELF file, as readelf reads its notes.
build_id() {
  "$readelf" -n "$1" | sed -n 's/^ *Build ID: *\([0-9a-f]*\).*/\1/p' | head -n 1
}

# The Mappings line of the file whose name ends in /$1 (also a versioned
# soname: libgrt.so.0.1.0), fields "ID: start/limit/offset file buildid [flags]".
mapping_of() {
  awk -v name="$1" '
    /^Mappings$/ { m = 1; next }
    m && $3 ~ ("/" name "(\\.[0-9]+)*$") { print; exit }' "$tmp/raw"
}

# check_mapping NAME FILE: the mapping of NAME has FILE's build ID (a non-empty one).
check_mapping() {
  line=$(mapping_of "$1")
  want=$(build_id "$2")
  echo "mapping of $1: ${line:-none}; readelf: build ID ${want:-none}"
  [ -n "$want" ] || fail "$readelf finds no build ID in $2"
  [ -n "$line" ] || { fail "no mapping of $1"; return; }
  got=$(echo "$line" | awk '{ print $4 }')
  case $got in
  "" | \[*) fail "the mapping of $1 has no build ID" ;;
  "$want") ;;
  *) fail "the mapping of $1 has build ID $got, the file $want" ;;
  esac
}

progname=$(basename "$prog")
check_mapping "$progname" "$prog"
check_mapping libgrt.so "$lib"
prog_map=$(mapping_of "$progname" | awk '{ sub(":", "", $1); print $1 }')
mapping_of "$progname" | grep -q '\[FN\]' || fail "the program's mapping does not claim [FN]"

# Locations named host_pprof_hot (first line: "ID: addr M=n fn file:line"),
# in the program's mapping, and the samples whose leaf is one of them.
awk -v map="M=${prog_map:-none}" '
  /^Locations$/ { part = "l"; next }
  /^Mappings$/ { part = "m"; next }
  /^Samples:$/ { part = "s"; getline; next }
  part == "s" && $2 ~ /:$/ { leaf[NR] = $3; count[NR] = $1 }
  part == "l" && $1 ~ /^[0-9]+:$/ && $3 == map && $4 == "host_pprof_hot" { hot[$1 + 0] = 1; n++ }
  END {
    for (i in leaf) if (leaf[i] in hot) s += count[i]
    printf "%d locations in host_pprof_hot, %d samples with it as the leaf\n", n, s
    exit !(n > 0 && s > 0)
  }' "$tmp/raw" || fail "host_pprof_hot is not named as a leaf in the program's mapping"

if [ "$fails" -ne 0 ]; then
  echo "host_pprof: $fails failure(s); the -raw output:"
  sed -n '/^Locations$/q;p' "$tmp/raw" | head -n 20
  sed -n '/^Locations$/,$p' "$tmp/raw" | head -n 60
  exit 1
fi
echo "host_pprof: ok"
