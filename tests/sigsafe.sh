#!/bin/sh
# sigsafe: the objects that hold the SIGPROF handler's code reference only
# async-signal-safe functions.  Every undefined symbol of those objects
# (nm --undefined-only: U, and weak undefined w/v) must match an entry of
# ALLOW below; anything else (malloc, a lock, stdio, ...) fails the test.
#
# A symbol defined by one of the checked objects is checked as part of the
# set (ring_put in ring.o, called by sigprof.o), so it needs no entry.
#
# nm sees references, not calls: a symbol whose address is only taken still
# needs an entry.  Callees listed here are trusted as they are; an entry
# for our own code asserts that the function (and all it calls) is safe.
#
# Usage: sigsafe.sh <object dir> [<object> ...]
#   object dir: build/CMakeFiles/grt_objs.dir
#   objects: paths relative to the object dir (default: OBJECTS below)
# Exit: 0 ok, 1 an unsafe reference (each printed), 2 setup error
# (an object is missing), 77 no nm.
set -u
set -f # the allowlist holds globs: never expand them against files

# ---- the handler's objects (edit when files move) ----------------------------
OBJECTS="src/sampler/sigprof.c.o src/sampler/ring.c.o src/base/unwind.c.o"

# ---- the allowlist: one entry per line, "<symbol or shell glob>  <why>" -------
# Keep it short.  Every entry needs its reason; '#' lines are ignored.
ALLOW='
# libc, async-signal-safe
__errno_location       errno: the handler saves and restores it; returns the thread'"'"'s errno address, no locks
rt_errno_location      errno read afresh (runtime.h): a pointer to __errno_location, set at load time
syscall                raw system calls (gettid for the shared slots): a trap into the kernel, no locks, no allocation
memcpy                 emitted by the compiler for struct/array copies; async-signal-safe (POSIX.1-2008 TC2)
memmove                emitted by the compiler for overlapping copies; async-signal-safe (POSIX.1-2008 TC2)
memset                 emitted by the compiler to zero structs/arrays; async-signal-safe (POSIX.1-2008 TC2)
_dl_find_object        glibc >= 2.35, documented AS-Safe: a lock-free search of the loaded objects (base/unwind.c)
__stack_chk_fail       -fstack-protector (default on some distros): reached only on a smashed canary, then aborts
_GLOBAL_OFFSET_TABLE_  linker-defined GOT address for PIC code, not a function
# aarch64: the outline atomics of gcc (-moutline-atomics, the default there): every
# _Atomic operation becomes a call into libgcc
__aarch64_cas*         outline atomic compare-and-swap: one LSE instruction or an LDXR/STXR loop (chosen by a flag set at start-up); no lock, no call
__aarch64_ldadd*       outline atomic fetch-add: the same (LDADD or an LDXR/STXR loop)
__aarch64_swp*         outline atomic exchange: the same (SWP or an LDXR/STXR loop)
__aarch64_ldclr*       outline atomic fetch-and-not: the same
__aarch64_ldset*       outline atomic fetch-or: the same
__aarch64_ldeor*       outline atomic fetch-xor: the same
# sanitizer instrumentation (GRT_SANITIZE=ON): inserted by the compiler, not
# called by our code; the sanitizer runtimes are built to run inside signal handlers
__asan_*               AddressSanitizer checks and fake-stack frames
__ubsan_*              UndefinedBehaviorSanitizer handlers
__sanitizer_*          sanitizer common runtime (e.g. coverage/annotation hooks)
# our own code, other objects (lead: check names and keep each one safe)
grt_tls_g              TLS variable (initial-exec, runtime): the current G, read only
'
# Deliberately absent:
#   __tls_get_addr   general/local-dynamic TLS access: may allocate (first touch
#                    of a dlopened module'"'"'s TLS); the handler'"'"'s TLS must be
#                    initial-exec (grt_tls_g) and its own __thread data must live
#                    elsewhere (e.g. the fork hooks'"'"' saved mask).
#   timer_*, clock_gettime   async-signal-safe, but the handler does not need them.
# Candidates if the handler compares PCs against the switch code directly:
#   sched_*_end, sched_gogo, sched_mcall, ...   addresses only, never called

# -----------------------------------------------------------------------------
if [ $# -lt 1 ]; then
  echo "usage: $0 <object dir> [<object> ...]" >&2
  exit 2
fi
objdir=${1%/}
shift
[ $# -gt 0 ] && OBJECTS=$*
NM=${NM:-nm}
command -v "$NM" >/dev/null 2>&1 || { echo "SKIP: $NM (binutils) not found"; exit 77; }

patterns=$(printf '%s\n' "$ALLOW" | awk '!/^[ \t]*(#|$)/ { print $1 }')

allowed() {
  for p in $patterns; do
    # shellcheck disable=SC2254
    case $1 in $p) return 0 ;; esac
  done
  return 1
}

# Symbols the checked objects define themselves: checked here as well.
internal=""
for o in $OBJECTS; do
  [ -f "$objdir/$o" ] && internal="$internal $("$NM" -P --defined-only "$objdir/$o" | awk 'NF { print $1 }')"
done
is_internal() {
  for d in $internal; do [ "$d" = "$1" ] && return 0; done
  return 1
}

status=0
nsym=0
for o in $OBJECTS; do
  obj=$objdir/$o
  if [ ! -f "$obj" ]; then
    echo "sigsafe: FAIL: $obj not found (not built, or the handler moved: edit OBJECTS in $0)" >&2
    status=2
    continue
  fi
  und=$("$NM" -P --undefined-only "$obj") || { echo "sigsafe: FAIL: $NM failed on $obj" >&2; status=2; continue; }
  for s in $(printf '%s\n' "$und" | awk 'NF { print $1 }'); do
    nsym=$((nsym + 1))
    if ! allowed "$s" && ! is_internal "$s"; then
      echo "NOT SIGNAL-SAFE: $o references $s (not in the allowlist of $0)"
      [ $status -eq 0 ] && status=1
    fi
  done
done
if [ $status -eq 1 ]; then
  echo "sigsafe: FAIL: the handler's objects reference functions outside the allowlist" \
    "(move the code out of them, or add the symbol to ALLOW with the reason it is async-signal-safe)"
fi
[ $status -eq 0 ] || exit $status
echo "sigsafe: ok: $nsym undefined symbol(s) in $(echo "$OBJECTS" | wc -w) object(s), all allowlisted"
