/*
 * prof_storm_lib.c - the CPU burner tests/prof_dlopen_storm.c loads and
 * unloads 200 times while profiling.  Built -O2 -fomit-frame-pointer
 * (CMakeLists.txt): no frame pointers, so the walk gets from storm_c back
 * to the goroutine only through this library's CFI tables.  A chain of
 * three calls, storm_a -> storm_b -> storm_c, none a tail call and none
 * inlined or cloned (noipa), with the CPU spent in the leaf.
 */
#include <stdint.h>

__attribute__((noipa)) static uint64_t storm_c(uint64_t n, uint64_t x) {
  for (uint64_t i = 0; i < n; i++)
    x = (x ^ (x >> 11)) * 6364136223846793005u + i;
  return x;
}

/* Keeps values in callee-saved registers across the calls (pushes). */
__attribute__((noipa)) static uint64_t storm_b(uint64_t n, uint64_t x) {
  uint64_t s = 0, t = x;
  for (int k = 0; k < 4; k++) {
    s += storm_c(n, t + (uint64_t)k) ^ (s >> 3);
    t = t * 31 + s;
  }
  return s + t;
}

__attribute__((visibility("default"), noipa)) uint64_t storm_a(uint64_t n) {
  volatile uint64_t pad[6]; /* a frame of its own on the stack */
  for (int i = 0; i < 6; i++)
    pad[i] = n + (uint64_t)i;
  uint64_t r = storm_b(n, pad[2]);
  return r ^ pad[5];
}

/* Where the three functions are (storm_b and storm_c are static), for a
 * profile whose locations in this library have addresses only. */
__attribute__((visibility("default")))
const uintptr_t storm_fns[3] = {(uintptr_t)storm_a, (uintptr_t)storm_b, (uintptr_t)storm_c};
