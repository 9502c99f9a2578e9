/*
 * spawn: cost of starting and finishing one goroutine.
 * GRT_MAXPROCS=2.  A driver goroutine (spawned from main_fn) adds 10^6 to a
 * wait group, starts 10^6 goroutines that each call grt_wg_done, and waits.
 * Prints the driver's elapsed time divided by the number of goroutines.  A
 * smaller warm-up round runs first.
 * Go twin: bench/go/spawn (go func + sync.WaitGroup, GOMAXPROCS=2).
 */
#include <grt.h>
#include <stdio.h>
#include <stdlib.h>

#define N_GOROUTINES 1000000L
#define N_WARMUP 10000L

struct round {
  long n;
  int64_t ns;
  int err;
  grt_wg done; /* the driver finished */
};

static void worker(void *p) {
  grt_wg_done(p);
}

static void driver(void *p) {
  struct round *r = p;
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
  grt_wg_done(&r->done);
}

static int64_t run(long n) {
  struct round r = {n, 0, 0, GRT_WG_INIT};
  grt_wg_add(&r.done, 1);
  if (grt_go(driver, &r) != 0) {
    fprintf(stderr, "spawn: grt_go failed\n");
    return -1;
  }
  grt_wg_wait(&r.done);
  if (r.err) {
    fprintf(stderr, "spawn: grt_go failed in the driver\n");
    return -1;
  }
  return r.ns;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  if (run(N_WARMUP) < 0) return 1;
  int64_t ns = run(N_GOROUTINES);
  if (ns < 0) return 1;
  printf("RESULT spawn_ns %.2f\n", (double)ns / N_GOROUTINES);
  return 0;
}

int main(int argc, char **argv) {
  setenv("GRT_MAXPROCS", "2", 1);
  return grt_main(real_main, argc, argv);
}
