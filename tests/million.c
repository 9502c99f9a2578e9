/*
 * million: 10^6 goroutines can be parked at once.  Each increments a
 * counter and blocks receiving on one shared unbuffered channel; once all
 * have arrived, grt_read_stats must count them all, with no more guarded
 * stacks than the VMA budget and every stack either guarded or canary
 * (past the budget, from vm.max_map_count, stacks fall back to canary
 * checks: expected here, with a one-time warning on stderr).  Closing the
 * channel wakes them all; a wait group joins them.  Prints elapsed times.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

/* ASan: scaled down from 10^6 (shadow memory and slower spawns). */
#define N ASAN_SCALED(1000000, 50000)

static grt_chan *ch;
static grt_wg wg;
static atomic_long parked;
static atomic_long woke_closed;

static void waiter(void *arg) {
  (void)arg;
  atomic_fetch_add(&parked, 1);
  if (grt_chan_recv(ch, NULL) == 0) atomic_fetch_add(&woke_closed, 1);
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  ch = grt_chan_make(0, 0);
  CHECK(ch);
  int64_t t0 = grt_nanotime();
  grt_wg_add(&wg, N);
  for (long i = 0; i < N; i++)
    CHECK(grt_go(waiter, NULL) == 0);
  int64_t t1 = grt_nanotime();
  while (atomic_load(&parked) < N)
    grt_sleep(1000000);
  int64_t t2 = grt_nanotime();

  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("spawned %d goroutines in %.3f s, all arrived after %.3f s\n", N, (t1 - t0) / 1e9,
         (t2 - t0) / 1e9);
  printf("stats: goroutines %llu, threads %llu, stacks guarded %llu + canary %llu, "
         "vma budget %llu\n",
         (unsigned long long)st.goroutines, (unsigned long long)st.threads,
         (unsigned long long)st.stacks_guarded, (unsigned long long)st.stacks_canary,
         (unsigned long long)st.vma_budget);
  CHECK(st.goroutines >= N);
  CHECK(st.stacks_guarded <= st.vma_budget);
  CHECK(st.stacks_guarded + st.stacks_canary >= N);

  CHECK(grt_chan_close(ch) == 0);
  grt_wg_wait(&wg);
  int64_t t3 = grt_nanotime();
  printf("closed and joined all in %.3f s (total %.3f s)\n", (t3 - t2) / 1e9, (t3 - t0) / 1e9);
  CHECK(atomic_load(&woke_closed) == N);
  grt_chan_free(ch);
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
