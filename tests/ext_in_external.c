/*
 * ext_in_external: a foreign thread's in_external flag follows nesting.  A
 * pthread grt never created calls grt_callback(A); A calls grt_extcall(C);
 * C calls grt_callback(B); B returns into C, C returns into A, and A goes
 * on working.  grt_thread_state_get is checked at every step:
 *   foreign thread, before its first callback:  no M (known 0)
 *   foreign thread, between callbacks:           extra M, in_external 1
 *   in A:  in_external 0, ext_depth 0, cb_depth 1
 *   in C:  in_external 0, ext_depth 1, cb_depth 1
 *   in B:  in_external 0, ext_depth 1, cb_depth 2
 *   in C after B returned:  in_external 0, ext_depth 1, cb_depth 1
 *   in A after C returned:  in_external 0 throughout: 100,000 checks
 *     interleaved with small work, then after a grt_yield and after a
 *     1 ms grt_sleep
 *   foreign thread after A returned:  in_external 1, both depths 0.
 * (Go issue #72870: B's return set the flag although A still ran.)  The
 * scenario runs 5 times on one foreign thread, then 5 times each on two
 * foreign threads at once.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define ROUNDS 5
#define CONTINUATION_CHECKS 100000

/* Checks the calling thread's state against the expected one, naming the
 * step on failure. */
static void expect(const char *step, int known, int in_external, int ext_depth, int cb_depth) {
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  int is_extra = known; /* every step runs on a foreign thread */
  if (st.known != known || st.is_extra != is_extra || st.in_external != in_external ||
      st.ext_depth != ext_depth || st.cb_depth != cb_depth) {
    fprintf(stderr,
            "%s: known %d is_extra %d in_external %d ext_depth %d cb_depth %d; "
            "want %d %d %d %d %d\n",
            step, st.known, st.is_extra, st.in_external, st.ext_depth, st.cb_depth, known, is_extra,
            in_external, ext_depth, cb_depth);
    CHECK(0);
  }
}

static void *B(void *arg) {
  expect("in B", 1, 0, 1, 2);
  return (void *)((intptr_t)arg + 1);
}

static void *C(void *arg) {
  expect("in C", 1, 0, 1, 1);
  void *r = grt_callback(B, (void *)((intptr_t)arg + 1));
  expect("in C after B", 1, 0, 1, 1);
  return (void *)((intptr_t)r + 1);
}

static volatile uint64_t sink;

static void *A(void *arg) {
  expect("in A", 1, 0, 0, 1);
  void *r = grt_extcall(C, (void *)((intptr_t)arg + 1));
  CHECK((intptr_t)r == (intptr_t)arg + 4); /* B adds 1, C 1 more */
  /* A's continuation: goroutine frames are on the thread all along. */
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < CONTINUATION_CHECKS; i++) {
    h = (h ^ (uint64_t)i) * 1099511628211ull; /* small work */
    expect("in A after C", 1, 0, 0, 1);
  }
  sink = h;
  grt_yield();
  expect("in A after grt_yield", 1, 0, 0, 1);
  grt_sleep(1000000);
  expect("in A after grt_sleep", 1, 0, 0, 1);
  return (void *)((intptr_t)r + 1);
}

static void *foreign_thread(void *arg) {
  (void)arg;
  expect("foreign thread before its first callback", 0, 0, 0, 0);
  for (intptr_t round = 0; round < ROUNDS; round++) {
    if (round > 0) expect("foreign thread between callbacks", 1, 1, 0, 0);
    intptr_t base = 100 * round;
    void *r = grt_callback(A, (void *)base);
    CHECK((intptr_t)r == base + 5);
    expect("foreign thread after A returned", 1, 1, 0, 0);
  }
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  pthread_t t1, t2;
  CHECK(pthread_create(&t1, NULL, foreign_thread, NULL) == 0);
  CHECK(join_thread(t1) == 0);
  printf("one foreign thread: %d rounds ok\n", ROUNDS);

  CHECK(pthread_create(&t1, NULL, foreign_thread, NULL) == 0);
  CHECK(pthread_create(&t2, NULL, foreign_thread, NULL) == 0);
  CHECK(join_thread(t1) == 0);
  CHECK(join_thread(t2) == 0);
  printf("two concurrent foreign threads: %d rounds each ok\n", ROUNDS);
  printf("ext_in_external: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
