#!/bin/sh
# unwind_fuzz.sh SRC OUT [SECONDS] - builds tests/fuzz/unwind_fuzz.c with
# clang's libFuzzer under ASan+UBSan and runs it for SECONDS (default 20)
# on a fresh corpus in OUT/corpus.  Exit 77 (skipped) when clang or its
# libFuzzer runtime (Debian: clang, libclang-rt-<version>-dev) is missing.
# ctest runs it briefly; run it longer by hand, e.g.
#   sh tests/fuzz/unwind_fuzz.sh . /tmp/uf 3600
# A crash is kept as OUT/crash-*: replay it with OUT/unwind_fuzz OUT/crash-*.
set -eu
src=$1
out=$2
secs=${3:-20}
cc=${CLANG:-clang}
mkdir -p "$out/corpus"
probe="$out/probe.c"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n ? 0 : 0; }' >"$probe"
if ! command -v "$cc" >/dev/null 2>&1 ||
  ! "$cc" -fsanitize=fuzzer,address "$probe" -o "$out/probe" >/dev/null 2>&1; then
  echo "SKIP: no clang with libFuzzer ($cc -fsanitize=fuzzer)"
  exit 77
fi
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -std=gnu11 -Wall -Wextra -Werror -I"$src/include" -I"$src/src" -I"$src/src/arch/$(uname -m)" \
  "$src/tests/fuzz/unwind_fuzz.c" "$src/src/base/unwtab.c" "$src/src/base/unwind.c" \
  "$src/src/base/hash.c" "$src/src/base/lock.c" -lpthread -o "$out/unwind_fuzz"
cd "$out"
# libFuzzer's own exit code for a crash is 77, ctest's "skipped": 1 instead.
# Leaks: the tables are never freed, by design.
ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=32 ./unwind_fuzz -max_total_time="$secs" \
  -max_len=8192 -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
  -error_exitcode=1 -timeout_exitcode=1 corpus
echo "ok"
