/*
 * sym_strip_lib.c - a library as Debian ships one: built with -g, its debug
 * information copied aside (objcopy --only-keep-debug, to
 * libgrt_sym_strip.so.debug) and then stripped (strip --strip-all), so
 * that only its exported functions have names in the file itself
 * (CMakeLists.txt).  strip_spin is static: nothing in the stripped file
 * names it, only the debug file does.  The tests of symbols for code
 * without them (unit_pprof_flags, prof_symbols_later, sym_debuginfod)
 * use it.
 */
#include <stdint.h>

/* noinline: a function of its own, where the CPU time goes. */
static __attribute__((noinline)) uint64_t strip_spin(uint64_t n) {
  uint64_t x = 1;
  for (uint64_t i = 0; i < n; i++) {
    x = x * 6364136223846793005u + i;
    __asm__ volatile("" : "+r"(x)); /* the loop stays a loop */
  }
  return x;
}

/* Exported (named by .dynsym in the stripped file); the work after the
 * call keeps it from being a tail call, so it shows as strip_spin's caller. */
uint64_t strip_lib_burn(uint64_t n) {
  uint64_t x = strip_spin(n);
  __asm__ volatile("" : "+r"(x));
  return x + 1;
}

/* Calls fn(arg), with this library's frame under it on the stack. */
void strip_lib_call(void (*fn)(void *), void *arg) {
  fn(arg);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
}

/* Addresses inside the static and an exported function, taken here (a
 * program's &strip_lib_burn may be its PLT entry). */
uintptr_t strip_lib_static_pc(void) {
  return (uintptr_t)strip_spin + 1;
}

uintptr_t strip_lib_exported_pc(void) {
  return (uintptr_t)strip_lib_burn + 1;
}
