/*
 * prof_multi: on 2 Ps, two goroutines burn CPU in two different functions
 * (hog_a, hog_b) at 200 Hz, each on its own M with its own timer.  Both
 * must be in the profile with samples, and each sample must be attributed
 * to the goroutine that was running on the interrupted thread: a sample in
 * hog_a is exactly {hog_a, sched_gostart, sched_goentry} (the goroutine's
 * function and the runtime's entry frames below it) and never mentions
 * hog_b.  A handler that read another M's goroutine, or a timer armed for
 * the wrong thread, mixes them up.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 200
#define BURN_NS (1000LL * 1000 * 1000)

volatile unsigned long sink_a, sink_b;
static grt_wg done;

/* The two hogs differ in their loops, so the compiler cannot merge them. */
__attribute__((noinline)) void hog_a(void *arg) {
  (void)arg;
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    for (int i = 0; i < 100000; i++)
      sink_a += (unsigned long)i * 3;
  } while (pprof_thread_cpu_ns() < end);
  grt_wg_done(&done);
}

__attribute__((noinline)) void hog_b(void *arg) {
  (void)arg;
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    for (int i = 0; i < 100000; i++)
      sink_b ^= (unsigned long)i * 5 + 1;
  } while (pprof_thread_cpu_ns() < end);
  grt_wg_done(&done);
}

/* The weight of hog's samples, after checking each stack that has it. */
static int64_t check_hog(const struct pprof_raw *r, const char *hog, const char *other) {
  const char *const want[] = {hog, "sched_gostart", "sched_goentry", NULL};
  int64_t n = 0;
  for (int i = 0; i < r->nsamples; i++) {
    const struct pprof_sample *s = &r->samples[i];
    if (!pprof_has_fn(r, s, hog)) continue;
    if (pprof_has_fn(r, s, other)) {
      pprof_dump_sample(stderr, "a sample with both hogs", r, s);
      CHECK(0);
    }
    if (!pprof_leaf_is(r, s, hog)) continue; /* in the clock, called by the hog */
    if (!pprof_stack_is(r, s, want, 0)) {
      pprof_dump_sample(stderr, "a hog sample that is not {hog, sched_gostart, sched_goentry}", r,
                        s);
      CHECK(0);
    }
    n += s->count;
  }
  return n;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 2);
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("multi.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  grt_wg_add(&done, 2);
  CHECK(grt_go(hog_a, NULL) == 0);
  CHECK(grt_go(hog_b, NULL) == 0);
  grt_wg_wait(&done);
  CHECK(grt_prof_stop() == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t a = check_hog(&r, "hog_a", "hog_b"), b = check_hog(&r, "hog_b", "hog_a");
  printf("hog_a %lld samples, hog_b %lld samples, %lld in all\n", (long long)a, (long long)b,
         (long long)pprof_total_count(&r));
  /* 1 s of CPU each at 200 Hz: about 200 each. */
  CHECK(a >= 20 && b >= 20);
  pprof_free(&r);
  printf("prof_multi: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
