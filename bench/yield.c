/*
 * yield: cost of one goroutine switch through grt_yield().
 * GRT_MAXPROCS=1; two goroutines each call grt_yield() N times, so every
 * yield hands the single P to the other one.  The main goroutine waits on a
 * wait group.  Prints the total time divided by the total number of yields.
 * Go twin: bench/go/yield (runtime.Gosched, GOMAXPROCS=1).
 */
#include "benchutil.h"

#define N_YIELDS 5000000L
#define N_WARMUP 100000L

struct arg {
  long n;
  grt_wg *wg;
};

static void yielder(void *p) {
  struct arg *a = p;
  for (long i = 0; i < a->n; i++)
    grt_yield();
  grt_wg_done(a->wg);
}

/* Runs the two yielders for n yields each; returns elapsed ns, or -1. */
static int64_t round_ns(long n) {
  grt_wg wg = GRT_WG_INIT;
  struct arg a = {n, &wg};
  grt_wg_add(&wg, 2);
  int64_t t0 = grt_nanotime();
  if (grt_go(yielder, &a) != 0 || grt_go(yielder, &a) != 0) {
    fprintf(stderr, "yield: grt_go failed\n");
    return -1;
  }
  grt_wg_wait(&wg);
  return grt_nanotime() - t0;
}

static int measure(void) {
  return bench_timed("yield_ns", round_ns, N_WARMUP, N_YIELDS, 2.0 * N_YIELDS);
}

int main(int argc, char **argv) {
  return bench_main("1", measure, argc, argv);
}
