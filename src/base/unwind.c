/*
 * unwind.c - the walker's parts that are not inline (base/unwind.h): the
 * published registry and the loaded-object check.  Runs in any context,
 * the SIGPROF handler included (tests/sigsafe.sh checks this object).
 */
#define _GNU_SOURCE
#include "base/unwind.h"

#include <dlfcn.h>

const struct unw_registry *_Atomic unw_tables;

/* _dl_find_object (glibc >= 2.35) is AS-Safe: a lock-free search of the
 * loader's object list.  A pc in an unloaded object's range fails here
 * even while the stale table that once covered it is still published. */
bool unw_find_object_check(uintptr_t pc, uintptr_t map_start) {
  struct dl_find_object fo;
  return _dl_find_object((void *)pc, &fo) == 0 && (uintptr_t)fo.dlfo_map_start == map_start;
}
