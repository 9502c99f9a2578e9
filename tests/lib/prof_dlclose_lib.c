/*
 * prof_dlclose_lib.c - the library tests/unit_prof_dlclose.c loads from a
 * copy, profiles, unloads and truncates.  Two CPU burners that touch no
 * memory and call nothing, so their code runs the same when copied,
 * byte for byte, to the same address after the library is gone (as a JIT
 * page would).  Built without sanitizers for that reason (CMakeLists.txt).
 */
#include <stdint.h>

uint64_t dl_burn_a(uint64_t n) {
  uint64_t x = 1;
  for (uint64_t i = 0; i < n; i++)
    x = x * 6364136223846793005u + i;
  return x;
}

uint64_t dl_burn_b(uint64_t n) {
  uint64_t x = 3;
  for (uint64_t i = 0; i < n; i++)
    x = (x ^ (x >> 7)) * 2862933555777941757u + i;
  return x;
}
