#!/bin/sh
# errno_fresh: runtime code reads errno afresh.  glibc's __errno_location is
# declared const, so a function that calls it once may keep the address
# across a park, and a goroutine that resumed on another thread would read
# the first thread's errno (runtime.h, rt_errno_location).  So no object of
# src/runtime/ may reference __errno_location but sched.c.o, which stores it
# in the pointer runtime.h's errno macro calls through.
# Usage: errno_fresh.sh <grt_objs object dir>   (NM: the binutils' nm)
set -u
NM=${NM:-nm}
command -v "$NM" >/dev/null 2>&1 || { echo "SKIP: $NM (binutils) not found"; exit 77; }
dir=${1%/}/src/runtime
[ -d "$dir" ] || { echo "errno_fresh: FAIL: no objects in $dir" >&2; exit 2; }
bad=0 n=0
for obj in "$dir"/*.o; do
  n=$((n + 1))
  case $obj in */sched.c.o) continue ;; esac
  if "$NM" -u "$obj" | grep -q '__errno_location$'; then
    echo "errno_fresh: $obj calls __errno_location directly (its errno must be runtime/runtime.h's)"
    bad=1
  fi
done
"$NM" -u "$dir/sched.c.o" | grep -q '__errno_location$' ||
  { echo "errno_fresh: FAIL: sched.c.o does not take __errno_location's address"; bad=1; }
[ "$bad" -eq 0 ] && echo "errno_fresh: $n runtime objects read errno through rt_errno_location"
exit "$bad"
