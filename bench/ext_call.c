/*
 * ext_call: round trip of grt_extcall to an empty external C function.
 * GRT_MAXPROCS=2.  One goroutine (spawned from main_fn, which waits on a
 * wait group) calls grt_extcall(empty_ext, ...) N times.  empty_ext is
 * noinline and holds a compiler memory barrier, so every call is made.
 * Prints the goroutine's elapsed time divided by N.  A smaller warm-up round
 * runs first.
 * Go twin: bench/go/ext_call (a cgo call of an empty C function, C.empty(),
 * GOMAXPROCS=2).
 */
#include <grt.h>
#include <stdio.h>
#include <stdlib.h>

#define N_CALLS 2000000L
#define N_WARMUP 100000L

struct round {
  long n;
  int64_t ns;
  int err;
  grt_wg done;
};

/* The external function: does nothing, but is really called. */
__attribute__((noinline)) static void *empty_ext(void *arg) {
  __asm__ volatile("" ::: "memory");
  return arg;
}

static void caller(void *p) {
  struct round *r = p;
  int64_t t0 = grt_nanotime();
  for (long i = 0; i < r->n; i++) {
    if (grt_extcall(empty_ext, r) != r) {
      r->err = 1;
      break;
    }
  }
  r->ns = grt_nanotime() - t0;
  grt_wg_done(&r->done);
}

/* Runs one round of n calls; returns elapsed ns, or -1. */
static int64_t run(long n) {
  struct round r = {n, 0, 0, GRT_WG_INIT};
  grt_wg_add(&r.done, 1);
  if (grt_go(caller, &r) != 0) {
    fprintf(stderr, "ext_call: grt_go failed\n");
    return -1;
  }
  grt_wg_wait(&r.done);
  if (r.err) {
    fprintf(stderr, "ext_call: grt_extcall returned a wrong result\n");
    return -1;
  }
  return r.ns;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  if (run(N_WARMUP) < 0) return 1;
  int64_t ns = run(N_CALLS);
  if (ns < 0) return 1;
  printf("RESULT ext_call_ns %.2f\n", (double)ns / N_CALLS);
  return 0;
}

int main(int argc, char **argv) {
  setenv("GRT_MAXPROCS", "2", 1);
  return grt_main(real_main, argc, argv);
}
