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
#include <grt.h>
#include <stdio.h>
#include <stdlib.h>

#define N_TRIPS 1000000L
#define N_WARMUP 50000L

struct round {
  long n;
  int64_t ns;
  int err;
  grt_wg done;
};

/* The goroutine code called back: does nothing, but is really called. */
static void *empty_go(void *arg) {
  __asm__ volatile("" ::: "memory");
  return arg;
}

/* The external function: one callback into goroutine code. */
__attribute__((noinline)) static void *c_fn(void *arg) {
  return grt_callback(empty_go, arg);
}

static void caller(void *p) {
  struct round *r = p;
  int64_t t0 = grt_nanotime();
  for (long i = 0; i < r->n; i++) {
    if (grt_extcall(c_fn, r) != r) {
      r->err = 1;
      break;
    }
  }
  r->ns = grt_nanotime() - t0;
  grt_wg_done(&r->done);
}

/* Runs one round of n round trips; returns elapsed ns, or -1. */
static int64_t run(long n) {
  struct round r = {n, 0, 0, GRT_WG_INIT};
  grt_wg_add(&r.done, 1);
  if (grt_go(caller, &r) != 0) {
    fprintf(stderr, "ext_nested: grt_go failed\n");
    return -1;
  }
  grt_wg_wait(&r.done);
  if (r.err) {
    fprintf(stderr, "ext_nested: grt_extcall/grt_callback failed\n");
    return -1;
  }
  return r.ns;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  if (run(N_WARMUP) < 0) return 1;
  int64_t ns = run(N_TRIPS);
  if (ns < 0) return 1;
  printf("RESULT ext_nested_ns %.2f\n", (double)ns / N_TRIPS);
  return 0;
}

int main(int argc, char **argv) {
  setenv("GRT_MAXPROCS", "2", 1);
  return grt_main(real_main, argc, argv);
}
