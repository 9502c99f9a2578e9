/*
 * prof_cb_storm: profiling while many foreign threads call back (Go's
 * TestCgoPprofCallback).  On 2 Ps, 64 pthreads grt never created loop for
 * 2 s (1 s under ASan): usleep(50), then grt_callback(cb_work), at 1000 Hz.
 * Every callback arms (or keeps) its extra M's timer and its samples race
 * with extra Ms being bound, handed Ps and parked.  Nothing may crash or
 * hang; the profile must parse with go tool pprof -raw and hold samples;
 * and a sample whose leaf is cb_work (goroutine code in a callback) must
 * not be blamed on external code: no grt._ExternalCode, and its walk must
 * reach the foreign thread's function through the callback boundary.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000
#define NTHREADS 64
#define RUN_NS (ASAN_SCALED(2000LL, 1000LL) * 1000 * 1000)
#define HANG_S 150 /* fail fast instead of at ctest's timeout */

volatile unsigned long sink;
static _Atomic long callbacks;

/* Goroutine code, a few microseconds of it. */
__attribute__((noinline)) void *cb_work(void *arg) {
  unsigned long x = (uintptr_t)arg;
  for (int i = 0; i < 2000; i++)
    x = x * 6364136223846793005ul + 1442695040888963407ul;
  sink += x;
  return arg;
}

static int64_t deadline; /* the threads stop themselves: see run() */

__attribute__((noinline)) void *storm_thread(void *arg) {
  while (grt_nanotime() < deadline) {
    usleep(50);
    CHECK(grt_callback(cb_work, arg) == arg);
    atomic_fetch_add(&callbacks, 1);
  }
  return NULL;
}

static void *join_all(void *arg) {
  pthread_t *tids = arg;
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_join(tids[i], NULL) == 0);
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 2);
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("storm.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  /* The threads watch the clock themselves: while they keep both Ps busy
   * with callbacks, a goroutine sleeping until the end may not get a P
   * until long after its timer fired. */
  static pthread_t tids[NTHREADS];
  int64_t t0 = grt_nanotime();
  deadline = t0 + RUN_NS;
  for (int i = 0; i < NTHREADS; i++)
    CHECK(pthread_create(&tids[i], NULL, storm_thread, (void *)(uintptr_t)(i + 1)) == 0);
  grt_sleep(RUN_NS);
  CHECK(grt_extcall(join_all, tids) == NULL);
  printf("threads joined %.0f ms after start\n", (grt_nanotime() - t0) / 1e6);
  CHECK(grt_prof_stop() == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t in_cb = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (!pprof_leaf_is(&r, s, "cb_work")) continue;
    if (pprof_has_fn(&r, s, "grt._ExternalCode") || pprof_find_fn(&r, s, "storm_thread", 1) < 0) {
      pprof_dump_sample(stderr, "goroutine code in a callback, not under storm_thread", &r, s);
      CHECK(0);
    }
    in_cb += s->count;
  }
  int64_t total = pprof_total_count(&r);
  const struct pprof_loc *lost = pprof_pseudo(&r, "grt._LostSamples");
  printf("%ld callbacks; %lld samples, %lld in cb_work, lost samples: %s\n",
         atomic_load(&callbacks), (long long)total, (long long)in_cb, lost ? "some" : "none");
  CHECK(atomic_load(&callbacks) > 0);
  CHECK(total > 0 && in_cb > 0);
  pprof_free(&r);
  printf("prof_cb_storm: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  alarm(HANG_S);
  return main_with_procs("2", run, argc, argv);
}
