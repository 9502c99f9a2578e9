/*
 * parked_rss: resident memory per parked goroutine.
 * GRT_MAXPROCS=2.  Reads VmRSS from /proc/self/status, starts 10^5
 * goroutines that each block receiving from one shared unbuffered channel,
 * waits until all have started (a wait group) plus 100 ms to let the last
 * ones park, reads VmRSS again and prints (after - before) / 10^5 in KiB.
 * Then closes the channel, which releases them all, and waits for them.
 * Go twin: bench/go/parked_rss (same steps, GOMAXPROCS=2).
 */
#include "benchutil.h"
#include <string.h>

#define N_PARKED 100000L

struct shared {
  grt_chan *c;
  grt_wg started, finished;
};

/* VmRSS in KiB, or -1. */
static long vmrss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

static void parked(void *p) {
  struct shared *s = p;
  grt_wg_done(&s->started);
  grt_chan_recv(s->c, NULL); /* parks until the channel is closed */
  grt_wg_done(&s->finished);
}

static int measure(void) {
  static struct shared s; /* zero: both wait groups empty */
  s.c = grt_chan_make(0, 0);
  if (!s.c) {
    fprintf(stderr, "parked_rss: grt_chan_make failed\n");
    return 1;
  }
  long before = vmrss_kib();
  grt_wg_add(&s.started, (int)N_PARKED);
  grt_wg_add(&s.finished, (int)N_PARKED);
  for (long i = 0; i < N_PARKED; i++) {
    if (grt_go(parked, &s) != 0) {
      fprintf(stderr, "parked_rss: grt_go failed after %ld goroutines\n", i);
      return 1;
    }
  }
  grt_wg_wait(&s.started);
  grt_sleep(100 * 1000 * 1000);
  long after = vmrss_kib();
  if (before < 0 || after < 0) {
    fprintf(stderr, "parked_rss: cannot read VmRSS from /proc/self/status\n");
    return 1;
  }
  grt_chan_close(s.c);
  grt_wg_wait(&s.finished);
  grt_chan_free(s.c);
  printf("RESULT parked_kib %.3f\n", (double)(after - before) / N_PARKED);
  return 0;
}

int main(int argc, char **argv) {
  return bench_main("2", measure, argc, argv);
}
