/*
 * prof_unsampled: a thread the profiler cannot give a CPU timer is counted
 * and reported, never fatal.  timer_create fails with EAGAIN once the
 * user's RLIMIT_SIGPENDING is used up (each POSIX timer preallocates its
 * signal), and under qemu-user past 32 timers per process.
 *   - "limit0": a child with RLIMIT_SIGPENDING 0 profiles two goroutines
 *     burning CPU on 2 Ps.  grt_prof_start and grt_prof_stop succeed and
 *     the program runs on; stderr holds exactly one line about it, naming
 *     the limit; the profile reads with `go tool pprof`, and its comments
 *     (-comments) say how many threads went unsampled and list their tids,
 *     the main thread's among them.
 *   - "threads40": a child profiles while 40 threads it started itself
 *     (foreign threads: the collector gives each a timer) sleep.  Natively
 *     every thread gets one: no comment, no line.  Under qemu-user the
 *     emulator's limit leaves some without: the same report as above.
 * Skipped without go.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"
#include "pprof_raw.h"

#define NTHREADS 40

static void *sleeper(void *arg) {
  (void)arg;
  usleep(800 * 1000);
  return NULL;
}

static int child(int argc, char **argv) {
  (void)argc;
  bool limit0 = strcmp(argv[2], "limit0") == 0;
  printf("main tid %d\n", (int)gettid());
  CHECK(grt_prof_start(&(grt_prof_config){.path = argv[3], .hz = 100}) == 0);
  struct pprof_burners b;
  pthread_t t[NTHREADS];
  if (limit0) {
    pprof_burners_start(&b, 2);
    grt_sleep(300 * 1000 * 1000);
    pprof_burners_stop(&b);
  } else {
    for (int i = 0; i < NTHREADS; i++)
      CHECK(pthread_create(&t[i], NULL, sleeper, NULL) == 0);
    grt_sleep(400 * 1000 * 1000); /* the collector scans every 100 ms */
  }
  CHECK(grt_prof_stop() == 0);
  if (!limit0)
    for (int i = 0; i < NTHREADS; i++)
      CHECK(join_thread(t[i]) == 0);
  printf("child: ran on\n");
  return 0;
}

static int count_lines(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

/* Runs the child in mode; checks its report: unsampled threads expected or
 * not. */
static void run(const char *mode, bool expect) {
  static char out[1 << 16], err[1 << 16];
  char path[300];
  snprintf(path, sizeof path, "%s", pprof_path(mode));
  const char *args[] = {"child", mode, path, NULL};
  const char *env[] = {"GRT_MAXPROCS=2", NULL};
  int status = run_self(args, env, out, err, sizeof out);
  printf("--- %s: status %d\n%s%s", mode, status, out, err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strstr(out, "child: ran on"));
  int said = count_lines(err, "gets no CPU timer");
  char *comments = pprof_run("-comments", path);
  printf("comments: [%s]\n", comments);
  if (!expect) {
    CHECK(said == 0);
    CHECK(!strstr(comments, "not sampled"));
  } else {
    CHECK(said == 1);
    CHECK(count_lines(err, "\n") == 1); /* that line only */
    CHECK(strstr(err, "RLIMIT_SIGPENDING") && strstr(err, "32 per process"));
    const char *c = strstr(comments, "not sampled (no CPU timer: ");
    CHECK(c);
    int n = 0;
    CHECK(sscanf(comments, "grt: %d thread", &n) == 1 && n >= 1);
    if (strcmp(mode, "limit0") == 0) {
      int tid = 0;
      CHECK(sscanf(out, "main tid %d", &tid) == 1);
      char want[32];
      snprintf(want, sizeof want, " %d", tid);
      CHECK(strstr(c, want)); /* the main thread's M is listed */
    }
  }
  free(comments);
  /* The profile itself reads, with the burners' samples when sampled. */
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_free(&r);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "child") == 0) {
    if (strcmp(argv[2], "limit0") == 0) {
      struct rlimit rl = {0, 0};
      CHECK(setrlimit(RLIMIT_SIGPENDING, &rl) == 0);
    }
    return grt_main(child, argc, argv);
  }
  pprof_skip_without_go();
  run("limit0", true);
  run("threads40", test_emulated());
  printf("prof_unsampled: ok\n");
  return 0;
}
