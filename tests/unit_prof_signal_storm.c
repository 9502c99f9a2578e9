/*
 * unit_prof_signal_storm: kill -PROF from outside is not CPU time (Go's
 * validSIGPROF).  An idle process profiling at 100 Hz is hit by a storm of
 * kill(getpid(), SIGPROF): up to 200,000 signals from a helper thread
 * (which blocks SIGPROF itself, so they land on grt's idle threads),
 * bounded to 3 s.  Read back with the real `go tool pprof -raw`:
 *   - the profile's CPU total is at most 1.5 x the process's getrusage CPU
 *     over the profiled window, plus 50 ms (before the fix every delivered
 *     signal was a 10 ms sample: hundreds of seconds for an idle process);
 *   - the handler's diagnostic counter (a test hook) counted the signals it
 *     dropped for not coming from a kernel timer.
 * unit_: the counter is an internal symbol (grt_internal).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "pprof/cpuprof.h"

#define HZ 100
#define MAX_KILLS 200000
#define MAX_STORM_NS (3LL * 1000 * 1000 * 1000)

static long kills;

static void *storm(void *arg) {
  (void)arg;
  sigset_t prof;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  CHECK(pthread_sigmask(SIG_BLOCK, &prof, NULL) == 0);
  int64_t end = grt_nanotime() + MAX_STORM_NS;
  for (kills = 0; kills < MAX_KILLS; kills++) {
    if (kills % 1024 == 0 && grt_nanotime() > end) break;
    CHECK(kill(getpid(), SIGPROF) == 0);
  }
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("storm.pb.gz"));
  uint64_t foreign0 = prof_test_foreign_signals();
  int64_t cpu0 = process_cpu_ns(), wall0 = grt_nanotime();
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, storm, NULL) == 0);
  CHECK(join_thread(t) == 0); /* the main goroutine idles meanwhile */
  CHECK(grt_prof_stop() == 0);
  int64_t cpu = process_cpu_ns() - cpu0, wall = grt_nanotime() - wall0;
  uint64_t foreign = prof_test_foreign_signals() - foreign0;

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t profiled = pprof_total_count(&r) * (1000000000LL / HZ);
  printf("%ld kills in %.2f s; %llu reached the handler and were dropped; profile %.3f s of CPU, "
         "getrusage %.3f s\n",
         kills, wall / 1e9, (unsigned long long)foreign, profiled / 1e9, cpu / 1e9);
  CHECK(profiled <= cpu * 3 / 2 + 50000000);
  CHECK(foreign > 0);
  pprof_free(&r);
  printf("unit_prof_signal_storm: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
