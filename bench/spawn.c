/*
 * spawn: cost of starting and finishing one goroutine.
 * GRT_MAXPROCS=2.  A driver goroutine (spawned from main_fn) adds 10^6 to a
 * wait group, starts 10^6 goroutines that each call grt_wg_done, and waits.
 * Prints the driver's elapsed time divided by the number of goroutines.  A
 * smaller warm-up round runs first.
 * Go twin: bench/go/spawn (go func + sync.WaitGroup, GOMAXPROCS=2).
 */
#include "benchutil.h"

#define N_GOROUTINES 1000000L
#define N_WARMUP 10000L

static void worker(void *p) {
  grt_wg_done(p);
}

static void driver(struct bench_round *r) {
  grt_wg wg = GRT_WG_INIT;
  int64_t t0 = grt_nanotime();
  grt_wg_add(&wg, (int)r->n);
  for (long i = 0; i < r->n; i++) {
    if (grt_go(worker, &wg) != 0) {
      r->err = 1;
      grt_wg_add(&wg, (int)-(r->n - i)); /* the ones never started */
      break;
    }
  }
  grt_wg_wait(&wg);
  r->ns = grt_nanotime() - t0;
}

static int64_t run(long n) {
  return bench_go_round("spawn", driver, n, "grt_go failed in the driver");
}

static int measure(void) {
  return bench_timed("spawn_ns", run, N_WARMUP, N_GOROUTINES, N_GOROUTINES);
}

int main(int argc, char **argv) {
  return bench_main("2", measure, argc, argv);
}
