/*
 * chan_pingpong: round trip over two unbuffered channels of long.
 * Usage: bench_chan_pingpong [procs [block_rate_ns [mutex_fraction [prefix]]]]
 *   procs: GRT_MAXPROCS (default 1).  The rest (bench/contention.sh): turn
 *   the block and/or mutex profiles on (0: off, the default) before the
 *   warm-up, and write them to <prefix>.block.pb.gz and .mutex.pb.gz after
 *   the measured round (benchutil.h).
 * A "ping" goroutine sends on c1 and receives the reply on c2; a "pong"
 * goroutine receives on c1 and sends back on c2.  Both are spawned from
 * main_fn, which waits on a wait group.  Prints the time per round trip as
 * chan_rt_ns_<procs>p.
 * Go twin: bench/go/chan_pingpong (same arguments, runtime.GOMAXPROCS,
 * SetBlockProfileRate, SetMutexProfileFraction).
 */
#include "benchutil.h"

#define N_TRIPS 2000000L
#define N_WARMUP 50000L

struct pp {
  grt_chan *c1, *c2;
  long n;
  grt_wg *wg;
  int64_t ns; /* measured by ping */
  int err;
};

static void ping(void *p) {
  struct pp *s = p;
  long v = 0;
  int64_t t0 = grt_nanotime();
  for (long i = 0; i < s->n; i++) {
    v = i;
    if (grt_chan_send(s->c1, &v) != 0 || grt_chan_recv(s->c2, &v) != 1 || v != i + 1) {
      s->err = 1;
      break;
    }
  }
  s->ns = grt_nanotime() - t0;
  grt_chan_close(s->c1);
  grt_wg_done(s->wg);
}

static void pong(void *p) {
  struct pp *s = p;
  long v;
  while (grt_chan_recv(s->c1, &v) == 1) {
    v++;
    if (grt_chan_send(s->c2, &v) != 0) break;
  }
  grt_wg_done(s->wg);
}

/* n round trips; returns elapsed ns, or -1. */
static int64_t run(long n) {
  grt_wg wg = GRT_WG_INIT;
  struct pp s = {grt_chan_make(sizeof(long), 0), grt_chan_make(sizeof(long), 0), n, &wg, 0, 0};
  if (!s.c1 || !s.c2) {
    fprintf(stderr, "chan_pingpong: grt_chan_make failed\n");
    return -1;
  }
  grt_wg_add(&wg, 2);
  if (grt_go(pong, &s) != 0 || grt_go(ping, &s) != 0) {
    fprintf(stderr, "chan_pingpong: grt_go failed\n");
    return -1;
  }
  grt_wg_wait(&wg);
  grt_chan_free(s.c1);
  grt_chan_free(s.c2);
  if (s.err) {
    fprintf(stderr, "chan_pingpong: unexpected channel result\n");
    return -1;
  }
  return s.ns;
}

static int measure(void) {
  char metric[32];
  snprintf(metric, sizeof metric, "chan_rt_ns_%dp", grt_maxprocs());
  bench_contention_on();
  return bench_timed(metric, run, N_WARMUP, N_TRIPS, N_TRIPS) | bench_contention_write();
}

int main(int argc, char **argv) {
  const char *procs = argc > 1 ? argv[1] : "1";
  int n = atoi(procs);
  if (n < 1 || n > 1024) {
    fprintf(stderr, "usage: %s [procs 1..1024 [block_rate_ns [mutex_fraction [prefix]]]]\n",
            argv[0]);
    return 2;
  }
  if (bench_contention_args(argc, argv, 2) != 0) return 2;
  return bench_main(procs, measure, argc, argv);
}
