/*
 * prof_startstop: the profiler's life cycle under load and misuse.
 *   - start and stop 100 times in a row at 1000 Hz while 4 goroutines burn
 *     CPU and yield: every stop writes a profile (the last one is read back
 *     with the real `go tool pprof -raw`), and under ASan nothing leaks or
 *     is used after free (the suite runs this test under ASan too, with
 *     LeakSanitizer on: CMakeLists.txt sets detect_leaks=1 for it);
 *   - after the last stop, SIGPROF sent to the process and to a thread is
 *     ignored, as in Go: the process lives on;
 *   - the API's errors: start twice gives -EBUSY, stop without start
 *     -EINVAL, a NULL config, a bad rate or nowhere to write -EINVAL, and
 *     each of these misuses prints one stderr line naming the call.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000
#define ROUNDS 100

static struct pprof_burners burners; /* background load */

/* Runs the misuse calls with stderr captured; returns how many lines
 * they printed that name the call (each misuse must print one). */
static int misuse_lines(const char *path) {
  stderr_capture_begin();
  CHECK(grt_prof_stop() == -EINVAL);
  CHECK(grt_prof_start(NULL) == -EINVAL);
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = -1}) == -EINVAL);
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = 10001}) == -EINVAL);
  CHECK(grt_prof_start(&(grt_prof_config){.path = NULL, .fd = -1}) == -EINVAL);
  stderr_capture_end();
  int n = 0;
  for (const char *p = stderr_captured; (p = strstr(p, "grt: grt_prof_st")) != NULL; p++)
    n++;
  return n;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("cycle.pb.gz"));

  CHECK(misuse_lines(path) == 5); /* one line per misuse, naming the call */

  pprof_burners_start(&burners, 4);
  for (int round = 0; round < ROUNDS; round++) {
    CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
    CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == -EBUSY);
    grt_sleep(ASAN_SCALED(20, 10) * 1000000LL);
    CHECK(grt_prof_stop() == 0);
  }
  CHECK(grt_prof_stop() == -EINVAL);

  /* Stray SIGPROFs after stop are ignored. */
  CHECK(kill(getpid(), SIGPROF) == 0);
  CHECK(raise(SIGPROF) == 0);
  grt_sleep(50000000);
  pprof_burners_stop(&burners);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  pprof_free(&r);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
