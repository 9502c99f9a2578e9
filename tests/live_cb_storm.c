/*
 * live_cb_storm: a goroutine that keeps yielding makes progress during a
 * storm of callbacks.  64 foreign pthreads loop (usleep 50 us, then
 * grt_callback) for 5 s on 2 Ps, under ASan too (no scaling down), while
 * a goroutine loops on grt_yield and stamps the time of each iteration.
 * The longest gap between two iterations must stay under 500 ms (the
 * callbacks passed Ps among themselves and let the yielder run only in
 * bursts, seconds apart).  A liveness bound, generous on purpose.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"

#define THREADS 64
#define STORM_NS 5000000000LL

static _Atomic int stop;
static volatile unsigned long sink;
static _Atomic int64_t max_gap;
static _Atomic long iterations;
static grt_wg wg;

static void *cb_work(void *arg) {
  unsigned long x = (uintptr_t)arg;
  for (int i = 0; i < 2000; i++)
    x = x * 6364136223846793005ul + 1;
  sink += x;
  return NULL;
}

static void *storm(void *arg) {
  while (!atomic_load(&stop)) {
    usleep(50);
    grt_callback(cb_work, arg);
  }
  return NULL;
}

static void yielder(void *arg) {
  (void)arg;
  int64_t last = grt_nanotime();
  while (!atomic_load(&stop)) {
    grt_yield();
    int64_t now = grt_nanotime();
    if (now - last > atomic_load(&max_gap)) atomic_store(&max_gap, now - last);
    last = now;
    atomic_fetch_add(&iterations, 1);
  }
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&wg, 1);
  CHECK(grt_go(yielder, NULL) == 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_create(&t[i], NULL, storm, (void *)(uintptr_t)(i + 1)) == 0);
  grt_sleep(STORM_NS);
  atomic_store(&stop, 1);
  for (int i = 0; i < THREADS; i++)
    CHECK(join_thread(t[i]) == 0);
  grt_wg_wait(&wg);
  printf("yielder: %ld iterations, longest gap %.1f ms during a %d-thread storm\n",
         atomic_load(&iterations), atomic_load(&max_gap) / 1e6, THREADS);
  CHECK(atomic_load(&max_gap) < 500000000);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
