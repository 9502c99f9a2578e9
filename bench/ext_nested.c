/*
 * ext_nested: nested round trip, goroutine -> C -> goroutine code -> back.
 * GRT_MAXPROCS=2.  One goroutine (spawned from main_fn, which waits on a
 * wait group) calls grt_extcall(c_fn, ...) N times; the external function
 * c_fn calls grt_callback(empty_go, ...) once, and empty_go is an empty
 * goroutine function.  Prints the goroutine's elapsed time divided by N (one
 * extcall plus one callback per round trip).  A smaller warm-up round runs
 * first.
 * Go twin: bench/go/ext_nested (Go calls a C function that calls an exported
 * Go function, GOMAXPROCS=2).
 */
#include "benchutil.h"

#define N_TRIPS 1000000L
#define N_WARMUP 50000L

/* The goroutine code called back: does nothing, but is really called. */
static void *empty_go(void *arg) {
  __asm__ volatile("" ::: "memory");
  return arg;
}

/* The external function: one callback into goroutine code. */
__attribute__((noinline)) static void *c_fn(void *arg) {
  return grt_callback(empty_go, arg);
}

static void caller(struct bench_round *r) {
  int64_t t0 = grt_nanotime();
  for (long i = 0; i < r->n; i++) {
    if (grt_extcall(c_fn, r) != r) {
      r->err = 1;
      break;
    }
  }
  r->ns = grt_nanotime() - t0;
}

/* Runs one round of n round trips; returns elapsed ns, or -1. */
static int64_t run(long n) {
  return bench_go_round("ext_nested", caller, n, "grt_extcall/grt_callback failed");
}

static int measure(void) {
  return bench_timed("ext_nested_ns", run, N_WARMUP, N_TRIPS, N_TRIPS);
}

int main(int argc, char **argv) {
  return bench_main("2", measure, argc, argv);
}
