/*
 * prof_foreign: threads grt did not create, and that never call in, are
 * profiled too (the collector gives each one a CPU timer).  At 100 Hz, a
 * plain pthread burns 1 s of its own CPU in foreign_burn while the main
 * goroutine waits; the profile must hold at least half of the 100 samples
 * that CPU is worth, each exactly {pc in foreign_burn, grt._ExternalCode}
 * (grt knows nothing of that thread's stack, so it walks none of it).
 * A thread that then calls in keeps being profiled without counting twice:
 * the same thread burns another second inside grt_callback, and that
 * second is worth about 100 samples too (not 200).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 100
#define BURN_NS 1000000000LL

volatile unsigned long sink;

__attribute__((noinline)) void foreign_burn(void) {
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  while (pprof_thread_cpu_ns() < end)
    for (int i = 0; i < 20000; i++)
      sink += (unsigned long)i * 3;
  sink++;
}

__attribute__((noinline)) void *called_in_burn(void *arg) {
  (void)arg;
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  while (pprof_thread_cpu_ns() < end)
    for (int i = 0; i < 20000; i++)
      sink += (unsigned long)i * 5;
  sink++;
  return NULL;
}

static void *thread_main(void *arg) {
  (void)arg;
  foreign_burn();
  grt_callback(called_in_burn, NULL);
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("foreign.pb.gz"));
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
  CHECK(join_thread(t) == 0);
  CHECK(grt_prof_stop() == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  const char *const external[] = {"foreign_burn", "grt._ExternalCode", NULL};
  int64_t outside = 0, inside = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (pprof_has_fn(&r, s, "called_in_burn")) {
      CHECK(!pprof_has_fn(&r, s, "grt._ExternalCode"));
      inside += s->count;
    }
    if (!pprof_leaf_is(&r, s, "foreign_burn")) continue;
    if (!pprof_stack_is(&r, s, external, 0)) {
      pprof_dump_sample(stderr, "a foreign_burn sample that is not {pc, grt._ExternalCode}", &r, s);
      CHECK(0);
    }
    outside += s->count;
  }
  int64_t expected = BURN_NS * HZ / 1000000000;
  printf("foreign thread: %lld samples outside grt, %lld inside a callback (expected %lld each)\n",
         (long long)outside, (long long)inside, (long long)expected);
  CHECK(outside >= expected / 2);
  CHECK(inside >= expected / 2 && inside <= expected * 3 / 2);
  pprof_free(&r);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
