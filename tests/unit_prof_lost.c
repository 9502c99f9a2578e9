/*
 * unit_prof_lost: samples the rings cannot hold are counted exactly and
 * reported as one grt._LostSamples sample.  With the collector stalled (a
 * test hook), two goroutines burn CPU 60 frames deep at 1000 Hz until
 * their Ms' rings overflow.  Read back with the real `go tool pprof -raw`:
 *   - exactly one sample holds grt._LostSamples, and it is {grt._LostSamples};
 *   - its count is the drops: every sample the handler took (a test
 *     counter) minus the ones the profile holds otherwise;
 *   - the rest of the profile is intact (deep stacks, all parse).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "pprof/cpuprof.h"

#define HZ 1000
#define DEPTH 60

volatile unsigned long sink;
static grt_wg done;

__attribute__((noinline)) static void deep_burn(int depth, int64_t end) {
  if (depth > 0) {
    deep_burn(depth - 1, end);
    sink++; /* not a tail call: every level keeps its frame */
    return;
  }
  while (pprof_thread_cpu_ns() < end)
    for (int i = 0; i < 20000; i++)
      sink += (unsigned long)i;
}

static void burner(void *arg) {
  (void)arg;
  deep_burn(DEPTH, pprof_thread_cpu_ns() + ASAN_SCALED(1500, 1500) * 1000000LL);
  grt_wg_done(&done);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("lost.pb.gz"));
  uint64_t handled0 = prof_test_handled_weight();
  prof_test_stall_collector(true);
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  grt_wg_add(&done, 2);
  CHECK(grt_go(burner, NULL) == 0);
  CHECK(grt_go(burner, NULL) == 0);
  grt_wg_wait(&done);
  CHECK(grt_prof_stop() == 0);
  prof_test_stall_collector(false);
  int64_t handled = (int64_t)(prof_test_handled_weight() - handled0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t kept = 0, lost = 0, deep = 0;
  int nlost = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (pprof_has_fn(&r, s, "grt._LostSamples")) {
      const char *const only[] = {"grt._LostSamples", NULL};
      CHECK(pprof_stack_is(&r, s, only, 0));
      lost += s->count;
      nlost++;
    } else {
      kept += s->count;
      if (s->nlocs > DEPTH) deep += s->count;
    }
  }
  printf("handled %lld, kept %lld (%lld deep), lost %lld in %d sample(s)\n", (long long)handled,
         (long long)kept, (long long)deep, (long long)lost, nlost);
  CHECK(nlost == 1);
  CHECK(lost > 0);
  CHECK(lost == handled - kept);
  CHECK(deep > 0);
  pprof_free(&r);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
