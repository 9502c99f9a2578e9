/*
 * fiber.c - fiber_call_run (see fiber.h): the one trampoline that every
 * run-on-another-stack path (extcall, callback, systemstack) enters.
 */
#include "base/fiber.h"

#include <stddef.h>

void *fiber_call_run(void *call) {
  struct fiber_call *c = call;
  void *fake = NULL;
  fiber_end(NULL);
  void *r = c->fn(c->arg);
  fiber_begin(&fake, c->back_lo, c->back_hi);
  (void)fake;
  return r;
}
