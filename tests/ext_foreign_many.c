/*
 * ext_foreign_many: many foreign threads call back at once.  On 2 Ps, 64
 * pthreads grt never created each make 10,000 grt_callback calls (16 x 1,000
 * under ASan, where every call is much slower); each callback sends a value
 * unique to it into one channel read by 4 summing goroutines.  Every value
 * must arrive exactly once (count, sum and sum of squares exact) and
 * nothing may deadlock: a watchdog fails the test with the progress so far
 * if the run takes over 120 s.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

/* ASan: scaled down from 64 x 10,000 to 16 x 1,000. */
#define NTHREADS ASAN_SCALED(64, 16)
#define PER_THREAD ASAN_SCALED(10000, 1000)
#define NSUMMERS 4
#define WATCHDOG_S 120

static grt_chan *values;
static grt_wg summers_wg;
static _Atomic uint64_t got_count, got_sum, got_sumsq;
static atomic_long sent;    /* callbacks that completed their send */
static atomic_int finished; /* set when every check is done */

static void summer(void *arg) {
  (void)arg;
  uint64_t n = 0, sum = 0, sumsq = 0, v;
  while (grt_chan_recv(values, &v) == 1) {
    n++;
    sum += v;
    sumsq += v * v;
  }
  atomic_fetch_add(&got_count, n);
  atomic_fetch_add(&got_sum, sum);
  atomic_fetch_add(&got_sumsq, sumsq);
  grt_wg_done(&summers_wg);
}

/* Goroutine code, run by each callback. */
static void *send_value(void *arg) {
  uint64_t v = *(uint64_t *)arg;
  CHECK(grt_chan_send(values, &v) == 0);
  atomic_fetch_add(&sent, 1);
  return arg;
}

static void *foreign_thread(void *arg) {
  uint64_t t = (uint64_t)(uintptr_t)arg;
  for (uint64_t i = 0; i < PER_THREAD; i++) {
    uint64_t v = t * PER_THREAD + i + 1; /* 1 .. NTHREADS * PER_THREAD */
    CHECK(grt_callback(send_value, &v) == &v);
  }
  return NULL;
}

static void *join_all(void *arg) {
  pthread_t *tids = arg;
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_join(tids[i], NULL) == 0);
  return NULL;
}

static void *watchdog(void *arg) {
  (void)arg;
  for (int i = 0; i < WATCHDOG_S * 10; i++) {
    if (atomic_load(&finished)) return NULL;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "watchdog: no end after %d s: %ld of %ld callbacks sent\n", WATCHDOG_S,
          atomic_load(&sent), (long)NTHREADS * PER_THREAD);
  abort();
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 2);
  pthread_t wd;
  CHECK(pthread_create(&wd, NULL, watchdog, NULL) == 0);
  values = grt_chan_make(sizeof(uint64_t), 64);
  CHECK(values);
  grt_wg_add(&summers_wg, NSUMMERS);
  for (int i = 0; i < NSUMMERS; i++)
    CHECK(grt_go(summer, NULL) == 0);

  int64_t t0 = grt_nanotime();
  static pthread_t tids[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&tids[i], NULL, foreign_thread, (void *)(uintptr_t)i) == 0);
  CHECK(grt_extcall(join_all, tids) == NULL);
  CHECK(grt_chan_close(values) == 0);
  grt_wg_wait(&summers_wg);
  int64_t t1 = grt_nanotime();

  uint64_t n = (uint64_t)NTHREADS * PER_THREAD;
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("%d threads x %d callbacks: %llu values, sum %llu (want %llu), %.0f ms, "
         "%.2f us/callback, extra Ms %llu\n",
         NTHREADS, PER_THREAD, (unsigned long long)got_count, (unsigned long long)got_sum,
         (unsigned long long)(n * (n + 1) / 2), (t1 - t0) / 1e6, (t1 - t0) / 1e3 / n,
         (unsigned long long)st.extra_ms);
  CHECK(got_count == n);
  CHECK(got_sum == n * (n + 1) / 2);
  CHECK(got_sumsq == n * (n + 1) * (2 * n + 1) / 6);
  CHECK(st.extra_ms <= NTHREADS);
  atomic_store(&finished, 1);
  printf("ext_foreign_many: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
