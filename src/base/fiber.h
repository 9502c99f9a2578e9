/*
 * fiber.h - telling AddressSanitizer about stack switches, and running a
 * function on another stack with those annotations in both directions.
 *
 * ASan tracks one stack per thread.  Every switch must announce the stack
 * it goes to (fiber_begin, before) and confirm arrival (fiber_end, first
 * thing after).  Without ASan these compile to nothing.
 */
#ifndef GRT_BASE_FIBER_H
#define GRT_BASE_FIBER_H

#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
static inline void fiber_begin(void **fake_save, uintptr_t lo, uintptr_t hi) {
  __sanitizer_start_switch_fiber(fake_save, (const void *)lo, hi - lo);
}
static inline void fiber_end(void *fake) {
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
}
/* A stack about to be reused from its top: forget old poisoning. */
static inline void fiber_fresh(uintptr_t lo, uintptr_t hi) {
  __asan_unpoison_memory_region((void *)lo, hi - lo);
}
#else
static inline void fiber_begin(void **fake_save, uintptr_t lo, uintptr_t hi) {
  (void)fake_save;
  (void)lo;
  (void)hi;
}
static inline void fiber_end(void *fake) {
  (void)fake;
}
static inline void fiber_fresh(uintptr_t lo, uintptr_t hi) {
  (void)lo;
  (void)hi;
}
#endif

/* A call to run on another stack: the switch routine calls fiber_call_run
 * there with this as its argument.  back_lo/back_hi: the stack it returns
 * to, announced to ASan before the way back. */
struct fiber_call {
  void *(*fn)(void *);
  void *arg;
  uintptr_t back_lo, back_hi;
};

/* The first frame on the other stack: confirms arrival, runs fn(arg),
 * announces the way back.  Returns fn's result. */
void *fiber_call_run(void *call);

#endif
