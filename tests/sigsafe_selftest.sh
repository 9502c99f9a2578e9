#!/bin/sh
# sigsafe_selftest: tests/sigsafe.sh fails when a handler object references
# an unsafe function and passes when it does not, on fake objects compiled
# in a temp dir at the default paths (src/sampler/sigprof.c.o, ring.c.o,
# and a safe src/base/unwind.c.o beside every ring.c.o).
# Usage: sigsafe_selftest.sh <source dir>
set -u
src=$(cd "$1" && pwd) || exit 2
check="$src/tests/sigsafe.sh"
CC=${CC:-cc}
command -v nm >/dev/null 2>&1 || { echo "SKIP: nm (binutils) not found"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: no C compiler ($CC)"; exit 77; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fails=0

# obj <dir> <file> <C text>: compiles to <dir>/src/sampler/<file>.o
obj() {
  mkdir -p "$1/src/sampler"
  printf '%s\n' "$3" > "$1/$2"
  "$CC" -std=gnu11 -O2 -fPIC -fvisibility=hidden -Wall -Werror -c "$1/$2" -o "$1/src/sampler/$2.o" ||
    { echo "selftest: cannot compile $2"; exit 2; }
  # The walker's object is checked too; the cases here vary the other two.
  if [ "$2" = ring.c ]; then
    mkdir -p "$1/src/base"
    printf '%s\n' 'int unw_fake_find(const unsigned long *t, int n, unsigned long pc) {
  int i = 0; while (i < n && t[i] <= pc) i++; return i; }' > "$1/unwind.c"
    "$CC" -std=gnu11 -O2 -fPIC -c "$1/unwind.c" -o "$1/src/base/unwind.c.o" ||
      { echo "selftest: cannot compile unwind.c"; exit 2; }
  fi
}

# expect <name> <pass|fail> <object dir> [<text the output must hold> ...]
expect() {
  name=$1 want=$2 dir=$3
  shift 3
  sh "$check" "$dir" > "$tmp/out" 2>&1
  rc=$?
  ok=1
  case $want in
    pass) [ $rc -eq 0 ] || ok=0 ;;
    fail) [ $rc -ne 0 ] && [ $rc -ne 77 ] || ok=0 ;;
  esac
  for s in "$@"; do grep -qF -- "$s" "$tmp/out" || { ok=0; echo "  (output lacks: $s)"; }; done
  if [ $ok -eq 1 ]; then
    echo "ok   $name (want $want, exit $rc)"
  else
    echo "FAIL $name (want $want, exit $rc); checker output:"
    sed 's/^/  | /' "$tmp/out"
    fails=$((fails + 1))
  fi
}

# A handler in the shape of the real one: saves/restores errno, atomics,
# no calls.  (Only __errno_location, the one libc entry sure to stay listed.)
SAFE_HANDLER='#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
static _Atomic long hits;
void fake_sigprof(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)si; (void)uc;
  int saved = errno;
  atomic_fetch_add(&hits, 1);
  errno = saved;
}'
SAFE_RING='#include <stdatomic.h>
#include <stdint.h>
struct ring { _Atomic uint64_t head, tail; uint64_t w[64]; };
int ring_put(struct ring *r, uint64_t v) {
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  if (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= 64) return 0;
  r->w[h % 64] = v;
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
  return 1;
}'

d=$tmp/clean
obj "$d" sigprof.c "$SAFE_HANDLER"
obj "$d" ring.c "$SAFE_RING"
expect clean pass "$d" "sigsafe: ok"

d=$tmp/malloc
obj "$d" sigprof.c '#include <stdlib.h>
#include <signal.h>
void *last;
void fake_sigprof(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; last = malloc(64); }'
obj "$d" ring.c "$SAFE_RING"
expect handler_calls_malloc fail "$d" "NOT SIGNAL-SAFE: src/sampler/sigprof.c.o references malloc"

d=$tmp/lock
obj "$d" sigprof.c "$SAFE_HANDLER"
obj "$d" ring.c '#include <pthread.h>
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
long n;
void ring_put(void) { pthread_mutex_lock(&mu); n++; pthread_mutex_unlock(&mu); }'
expect ring_takes_a_lock fail "$d" "src/sampler/ring.c.o references pthread_mutex_lock" \
  "src/sampler/ring.c.o references pthread_mutex_unlock"

d=$tmp/weak
obj "$d" sigprof.c '#include <signal.h>
__attribute__((weak)) void grt_unsafe_hook(void);
void fake_sigprof(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; if (grt_unsafe_hook) grt_unsafe_hook(); }'
obj "$d" ring.c "$SAFE_RING"
expect weak_undefined_reference fail "$d" "references grt_unsafe_hook"

d=$tmp/stdio
obj "$d" sigprof.c '#include <stdio.h>
#include <signal.h>
void fake_sigprof(int sig, siginfo_t *si, void *uc) { (void)si; (void)uc; fprintf(stderr, "sig %d\n", sig); }'
obj "$d" ring.c "$SAFE_RING"
expect handler_uses_stdio fail "$d" "src/sampler/sigprof.c.o references fprintf"

# The allowlist holds globs (__asan_*): they match symbols, never files.
# Sanitizer entry points pass even with decoy files of such names in the cwd
# (an expanded glob would turn __asan_* into __asan_decoy).
d=$tmp/glob
obj "$d" sigprof.c 'void __asan_report_load8(unsigned long); void __ubsan_handle_fake(void *);
void fake_sigprof(unsigned long a) { __asan_report_load8(a); __ubsan_handle_fake(0); }'
obj "$d" ring.c "$SAFE_RING"
(cd "$d" && : > __asan_decoy && : > __ubsan_decoy && sh "$check" "$d" > "$tmp/out" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -qF "sigsafe: ok" "$tmp/out"; then
  echo "ok   sanitizer_globs_not_expanded (want pass, exit $rc)"
else
  echo "FAIL sanitizer_globs_not_expanded (exit $rc)"; sed 's/^/  | /' "$tmp/out"; fails=$((fails + 1))
fi

d=$tmp/missing
obj "$d" sigprof.c "$SAFE_HANDLER"
expect missing_object fail "$d" "src/sampler/ring.c.o not found"

# Objects named on the command line replace the default list.
d=$tmp/args
mkdir -p "$d/x"
obj "$d" sigprof.c '#include <stdlib.h>
void *p; void fake_sigprof(void) { p = malloc(1); }'
sh "$check" "$d" src/sampler/sigprof.c.o > "$tmp/out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -qF "references malloc" "$tmp/out" && ! grep -q ring "$tmp/out"; then
  echo "ok   objects_from_arguments (want fail, exit $rc)"
else
  echo "FAIL objects_from_arguments (exit $rc)"; sed 's/^/  | /' "$tmp/out"; fails=$((fails + 1))
fi

if [ $fails -ne 0 ]; then
  echo "sigsafe_selftest: FAIL: $fails case(s) wrong"
  exit 1
fi
echo "sigsafe_selftest: ok: the checker fails on unsafe references and passes safe objects"
