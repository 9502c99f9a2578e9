/*
 * fp_walk: a frame-pointer walk from deep inside a goroutine stays inside
 * the goroutine's stack and ends exactly at the entry frame (saved FP 0),
 * having seen every function on the way: the recursion's depth, the
 * goroutine function, and the runtime's start frame.  The profiler and
 * stack dumps rely on this clean end.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define DEPTH 20

/* Frame addresses recorded by each function on the way down, outermost
 * first: body, then deep(DEPTH) ... deep(0), then walk. */
static uintptr_t expected[DEPTH + 3];
static int nexpected;
static uintptr_t walked[128];
static uintptr_t last_pc;
static int nwalked;

/* A saved return address without its pointer-authentication bits
 * (aarch64 built with -mbranch-protection: xpaclri, a no-op on cores
 * without PAC; the runtime's arch_strip_ra). */
static uintptr_t strip_ra(uintptr_t ra) {
#ifdef __aarch64__
  register uintptr_t x30 __asm__("x30") = ra;
  __asm__("hint #7" : "+r"(x30)); /* xpaclri */
  return x30;
#else
  return ra;
#endif
}

__attribute__((noinline)) static void walk(void) {
  expected[nexpected++] = (uintptr_t)__builtin_frame_address(0);
  uintptr_t lo, hi;
  CHECK(grt_stack_bounds(&lo, &hi) == 0);
  uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
  for (;;) {
    CHECK(fp >= lo && fp + 16 <= hi && (fp & 7) == 0); /* never leaves the stack */
    CHECK(nwalked < 128);
    walked[nwalked++] = fp;
    uintptr_t next = ((uintptr_t *)fp)[0];
    last_pc = strip_ra(((uintptr_t *)fp)[1]);
    if (next == 0) break;
    CHECK(next > fp); /* strictly increasing */
    fp = next;
  }
}

__attribute__((noinline)) static int deep(int n) {
  expected[nexpected++] = (uintptr_t)__builtin_frame_address(0);
  if (n == 0) {
    walk();
    __asm__ volatile("" ::: "memory"); /* no sibling call: keep this frame */
    return 0;
  }
  int r = deep(n - 1);
  __asm__ volatile("" ::: "memory"); /* no tail call */
  return r + 1;
}

static grt_wg wg;

__attribute__((noinline)) static void body(void *arg) {
  (void)arg;
  expected[nexpected++] = (uintptr_t)__builtin_frame_address(0);
  deep(DEPTH);
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&wg, 1);
  CHECK(grt_go(body, NULL) == 0);
  grt_wg_wait(&wg);
  /* The walk sees walk, deep(0..DEPTH), body (innermost first), then one
   * runtime frame (sched_gostart), whose saved FP is 0 and whose return
   * address lies in the entry routine sched_goentry. */
  printf("walked %d frames; expected %d user frames + 1 runtime frame\n", nwalked, nexpected);
  CHECK(nexpected == DEPTH + 3);
  CHECK(nwalked == nexpected + 1);
  for (int i = 0; i < nexpected; i++)
    CHECK(walked[i] == expected[nexpected - 1 - i]);
  const grt_code_range *r;
  int n = grt_switch_ranges(&r);
  int in_entry = 0;
  for (int i = 0; i < n; i++)
    if (strcmp(r[i].name, "sched_goentry") == 0 && last_pc > r[i].start && last_pc <= r[i].end)
      in_entry = 1;
  CHECK(in_entry);
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
