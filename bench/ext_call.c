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
#include "benchutil.h"

#define N_CALLS 2000000L
#define N_WARMUP 100000L

/* The external function: does nothing, but is really called. */
__attribute__((noinline)) static void *empty_ext(void *arg) {
  __asm__ volatile("" ::: "memory");
  return arg;
}

static void caller(struct bench_round *r) {
  int64_t t0 = grt_nanotime();
  for (long i = 0; i < r->n; i++) {
    if (grt_extcall(empty_ext, r) != r) {
      r->err = 1;
      break;
    }
  }
  r->ns = grt_nanotime() - t0;
}

/* Runs one round of n calls; returns elapsed ns, or -1. */
static int64_t run(long n) {
  return bench_go_round("ext_call", caller, n, "grt_extcall returned a wrong result");
}

static int measure(void) {
  return bench_timed("ext_call_ns", run, N_WARMUP, N_CALLS, N_CALLS);
}

int main(int argc, char **argv) {
  return bench_main("2", measure, argc, argv);
}
