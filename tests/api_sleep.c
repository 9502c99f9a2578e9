/*
 * api_sleep: grt_sleep.  Goroutines sleeping 40, 10, 30, 20, 50 ms (spawned
 * in that order) wake in deadline order, none before its time (by
 * grt_nanotime); grt_sleep(0) and a negative duration just yield; and a
 * sleeping goroutine does not hold its M: with one P, another goroutine
 * keeps running (counting yields) while one sleeps 100 ms.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define MS 1000000LL

static const int naps[5] = {40, 10, 30, 20, 50};
static grt_mutex mu;
static int order[5], norder;
static int64_t slept[5];
static grt_wg wg;

static void napper(void *arg) {
  int i = (int)(intptr_t)arg;
  int64_t t0 = grt_nanotime();
  grt_sleep(naps[i] * MS);
  int64_t t1 = grt_nanotime();
  grt_mutex_lock(&mu);
  order[norder++] = naps[i];
  slept[i] = t1 - t0;
  grt_mutex_unlock(&mu);
  grt_wg_done(&wg);
}

static atomic_int ran;

static void mark(void *arg) {
  (void)arg;
  atomic_fetch_add(&ran, 1);
}

static atomic_int sleeper_done;
static long progress;

static void long_sleeper(void *arg) {
  (void)arg;
  int64_t t0 = grt_nanotime();
  grt_sleep(100 * MS);
  CHECK(grt_nanotime() - t0 >= 100 * MS);
  atomic_store(&sleeper_done, 1);
  grt_wg_done(&wg);
}

static void worker(void *arg) {
  (void)arg;
  while (!atomic_load(&sleeper_done)) {
    progress++;
    grt_yield();
  }
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 1);

  /* Deadline order, never early. */
  grt_wg_add(&wg, 5);
  for (int i = 0; i < 5; i++)
    CHECK(grt_go(napper, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&wg);
  printf("woke in order:");
  for (int i = 0; i < 5; i++)
    printf(" %d", order[i]);
  printf("\n");
  CHECK(norder == 5);
  for (int i = 0; i < 5; i++) {
    CHECK(order[i] == 10 * (i + 1));
    printf("  %d ms sleep took %.3f ms\n", naps[i], slept[i] / 1e6);
    CHECK(slept[i] >= naps[i] * MS);
  }

  /* grt_sleep(0) and grt_sleep(<0) yield: with one P, a runnable goroutine
   * gets to run during the call. */
  CHECK(grt_go(mark, NULL) == 0);
  grt_sleep(0);
  CHECK(atomic_load(&ran) == 1);
  CHECK(grt_go(mark, NULL) == 0);
  grt_sleep(-5 * MS);
  CHECK(atomic_load(&ran) == 2);

  /* A sleeping goroutine does not block the M. */
  grt_wg_add(&wg, 2);
  CHECK(grt_go(long_sleeper, NULL) == 0);
  CHECK(grt_go(worker, NULL) == 0);
  grt_wg_wait(&wg);
  printf("worker yielded %ld times while the other slept 100 ms\n", progress);
  CHECK(progress > 100);
  printf("api_sleep: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
