/*
 * top_strip_lib.c - a stripped library with two hot static functions, for
 * unit_pprof_top_fns (grt-pprof's top table names code without symbols by
 * the function that contains it, from .eh_frame_hdr).  The build keeps an
 * unstripped copy, whose `nm` says where top_spin_a and top_spin_b start,
 * and strips the library itself (strip --strip-all): then nothing in it
 * names them (CMakeLists.txt).
 */
#include <stdint.h>

/* noinline, and each its own loop: two functions, each with its FDE. */
static __attribute__((noinline)) uint64_t top_spin_a(uint64_t n) {
  uint64_t x = 1;
  for (uint64_t i = 0; i < n; i++) {
    x = x * 6364136223846793005u + i;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

static __attribute__((noinline)) uint64_t top_spin_b(uint64_t n) {
  uint64_t x = 7;
  for (uint64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x += i;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

/* Exported (named by .dynsym even when stripped); calls both. */
uint64_t top_lib_burn(uint64_t n) {
  uint64_t x = top_spin_a(n) + top_spin_b(n);
  __asm__ volatile("" : "+r"(x));
  return x + 1;
}

/* Addresses inside the static functions and the exported one, taken here
 * (a program's &top_lib_burn may be its PLT entry). */
void top_lib_pcs(uintptr_t *a, uintptr_t *b, uintptr_t *burn) {
  *a = (uintptr_t)top_spin_a;
  *b = (uintptr_t)top_spin_b;
  *burn = (uintptr_t)top_lib_burn;
}
