/*
 * mutex_contend: N_G goroutines take turns on one grt_mutex with a short
 * critical section.
 * Usage: bench_mutex_contend [procs [block_rate_ns [mutex_fraction [prefix]]]]
 *   procs: GRT_MAXPROCS (default 2).  The rest (bench/contention.sh): turn
 *   the block and/or mutex profiles on (0: off, the default) before the
 *   warm-up, and write them to <prefix>.block.pb.gz and .mutex.pb.gz after
 *   the measured round (benchutil.h).
 * Each of the N_G goroutines runs its share of the operations: lock, eight
 * steps of a multiply-add chain on the shared state plus a shared counter
 * (the critical section), unlock, then eight steps on its own state.  The
 * round's time, from the first grt_go to the wait group's release, divided
 * by the number of operations, is printed as mutex_op_ns_<procs>p.
 * Go twin: bench/go/mutex_contend (sync.Mutex; same arguments).
 */
#include "benchutil.h"

#define N_G 8
#define N_OPS 2000000L
#define N_WARMUP 50000L
#define STEPS 8

static grt_mutex mu = GRT_MUTEX_INIT;
static uint64_t shared_state;
static long counter;
static volatile uint64_t sink;

struct worker_arg {
  long n;
  uint64_t seed;
  grt_wg *wg;
};

static void worker(void *p) {
  struct worker_arg *a = p;
  uint64_t x = a->seed;
  for (long i = 0; i < a->n; i++) {
    grt_mutex_lock(&mu);
    uint64_t s = shared_state;
    for (int k = 0; k < STEPS; k++)
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    shared_state = s;
    counter++;
    grt_mutex_unlock(&mu);
    for (int k = 0; k < STEPS; k++)
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  sink = x;
  grt_wg_done(a->wg);
}

/* n operations in all; returns elapsed ns, or -1. */
static int64_t run(long n) {
  grt_wg wg = GRT_WG_INIT;
  struct worker_arg args[N_G];
  counter = 0;
  grt_wg_add(&wg, N_G);
  int64_t t0 = grt_nanotime();
  for (int i = 0; i < N_G; i++) {
    args[i] = (struct worker_arg){n / N_G, (uint64_t)i + 1, &wg};
    if (grt_go(worker, &args[i]) != 0) {
      fprintf(stderr, "mutex_contend: grt_go failed\n");
      return -1;
    }
  }
  grt_wg_wait(&wg);
  int64_t ns = grt_nanotime() - t0;
  if (counter != n / N_G * N_G) {
    fprintf(stderr, "mutex_contend: counter %ld, want %ld\n", counter, n / N_G * N_G);
    return -1;
  }
  return ns;
}

static int measure(void) {
  char metric[32];
  snprintf(metric, sizeof metric, "mutex_op_ns_%dp", grt_maxprocs());
  bench_contention_on();
  return bench_timed(metric, run, N_WARMUP, N_OPS, N_OPS) | bench_contention_write();
}

int main(int argc, char **argv) {
  const char *procs = argc > 1 ? argv[1] : "2";
  int n = atoi(procs);
  if (n < 1 || n > 1024) {
    fprintf(stderr, "usage: %s [procs 1..1024 [block_rate_ns [mutex_fraction [prefix]]]]\n",
            argv[0]);
    return 2;
  }
  if (bench_contention_args(argc, argv, 2) != 0) return 2;
  return bench_main(procs, measure, argc, argv);
}
