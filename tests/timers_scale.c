/*
 * timers_scale: 10^5 goroutines sleep at once, with deadlines spread over
 * one second, on 2 Ps.  No sleeper may wake before its deadline (checked).
 * How many woke within 10 ms of their deadline, how many woke out of
 * deadline order, and the CPU the process used while all of them waited
 * (10^5 parked sleepers should cost nothing) are printed, not asserted:
 * tests do not assert on timing.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define SPREAD_NS 1000000000LL
#define FIRST_NS 300000000LL /* after the start: all are asleep well before */

struct sleeper {
  int64_t offset; /* deadline = start + offset */
  int64_t deadline;
  int64_t woke;
  uint64_t order; /* rank of its wakeup */
};

static struct sleeper *sleepers;
static _Atomic uint64_t wake_rank;
static grt_wg done;
static grt_chan *go_signal; /* closed once all are spawned */
static int64_t start;

static void sleeper(void *arg) {
  struct sleeper *s = arg;
  char c;
  CHECK(grt_chan_recv(go_signal, &c) == 0); /* closed: start */
  s->deadline = start + s->offset;
  grt_sleep(s->deadline - grt_nanotime());
  s->woke = grt_nanotime();
  s->order = atomic_fetch_add(&wake_rank, 1);
  grt_wg_done(&done);
}

static int by_deadline(const void *a, const void *b) {
  const struct sleeper *x = a, *y = b;
  return (x->deadline > y->deadline) - (x->deadline < y->deadline);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int n = ASAN_SCALED(100000, 20000);
  sleepers = calloc((size_t)n, sizeof *sleepers);
  CHECK(sleepers);
  unsigned seed = 12345;
  for (int i = 0; i < n; i++)
    sleepers[i].offset =
        FIRST_NS +
        (int64_t)(((uint64_t)rand_r(&seed) << 16 ^ (uint64_t)rand_r(&seed)) % (uint64_t)SPREAD_NS);
  go_signal = grt_chan_make(1, 0);
  CHECK(go_signal);
  grt_wg_add(&done, n);
  for (int i = 0; i < n; i++)
    CHECK(grt_go(sleeper, &sleepers[i]) == 0);
  start = grt_nanotime();
  CHECK(grt_chan_close(go_signal) == 0);
  /* Let them all go to sleep, then measure the quiet before the first
   * deadline. */
  grt_sleep(FIRST_NS / 2);
  int64_t quiet = start + FIRST_NS - grt_nanotime() - 20000000;
  int64_t cpu0 = process_cpu_ns();
  if (quiet > 0) grt_sleep(quiet);
  int64_t idle_cpu = process_cpu_ns() - cpu0;
  grt_wg_wait(&done);

  int early = 0, within = 0;
  int64_t worst = 0;
  for (int i = 0; i < n; i++) {
    int64_t late = sleepers[i].woke - sleepers[i].deadline;
    if (late < 0) early++;
    if (late <= 10000000) within++;
    if (late > worst) worst = late;
  }
  qsort(sleepers, (size_t)n, sizeof *sleepers, by_deadline);
  int inversions = 0;
  for (int i = 1; i < n; i++)
    inversions += sleepers[i].order < sleepers[i - 1].order;
  printf("%d sleepers: %d early, %d within 10 ms of their deadline, worst %.1f ms late, "
         "%d woke out of deadline order\n",
         n, early, within, (double)worst / 1e6, inversions);
  if (quiet > 0)
    printf("while all %d slept for %.0f ms the process used %.2f ms of CPU\n", n,
           (double)quiet / 1e6, (double)idle_cpu / 1e6);
  CHECK(early == 0);
  free(sleepers);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
