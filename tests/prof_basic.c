/*
 * prof_basic: the CPU profiler's contract on the simplest program (Go's
 * TestCPUProfile).  A function that burns 1 s of CPU at 100 Hz is in the
 * profile with about 100 samples (at least 10); the profile has pprof's CPU
 * sample types and a period of 1e9 / hz; `go tool pprof -top` names the
 * function, and `-top -lines` gives this file and a line inside it (libdw
 * symbolization, not just symbols).  Then the API's errors, each of which
 * must leave no profile running; a profile written to the caller's fd,
 * which grt must not close; and SIGPROF left ignored after stop, so a late
 * signal cannot kill the process.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

volatile unsigned long sink;

/* The hog's source lines, to check the lines the profile gives it. */
enum { HOG_FIRST_LINE = __LINE__ };
__attribute__((noinline)) void basic_hog(int64_t cpu_ns) {
  int64_t end = pprof_thread_cpu_ns() + cpu_ns;
  do {
    for (int i = 0; i < 100000; i++)
      sink += (unsigned long)i * 7;
  } while (pprof_thread_cpu_ns() < end);
}
enum { HOG_LAST_LINE = __LINE__ };

/* Samples whose leaf is in basic_hog, after checking their lines. */
static int64_t hog_samples(const struct pprof_raw *r) {
  int64_t n = 0;
  for (int i = 0; i < r->nsamples; i++) {
    const struct pprof_sample *s = &r->samples[i];
    if (!pprof_leaf_is(r, s, "basic_hog")) continue;
    /* The leaf's line in basic_hog (functions may be inlined into it). */
    const struct pprof_loc *leaf = pprof_frame(r, s, 0);
    const struct pprof_line *ln = &leaf->lines[0];
    while (!pprof_fn_is(ln->fn, "basic_hog"))
      ln++;
    const char *base = strrchr(ln->file, '/');
    if (strcmp(base ? base + 1 : ln->file, "prof_basic.c") != 0 || ln->line <= HOG_FIRST_LINE ||
        ln->line >= HOG_LAST_LINE) {
      pprof_dump_sample(stderr, "basic_hog's leaf is not on one of its lines", r, s);
      CHECK(0);
    }
    n += s->count;
  }
  return n;
}

static void check_api_errors(void) {
  grt_prof_config bad;
  CHECK(grt_prof_stop() == -EINVAL); /* nothing running */
  CHECK(grt_prof_start(NULL) == -EINVAL);
  bad = (grt_prof_config){.path = pprof_path("bad.pb.gz"), .hz = -1};
  CHECK(grt_prof_start(&bad) == -EINVAL);
  bad.hz = 10001;
  CHECK(grt_prof_start(&bad) == -EINVAL);
  bad = (grt_prof_config){.path = NULL, .fd = -1};
  CHECK(grt_prof_start(&bad) == -EINVAL);
  bad = (grt_prof_config){.path = pprof_path("no/such/dir/x.pb.gz")};
  CHECK(grt_prof_start(&bad) == -ENOENT);
  CHECK(grt_prof_stop() == -EINVAL); /* none of those started one */
  CHECK(access(pprof_path("bad.pb.gz"), F_OK) != 0);

  /* The highest rate is accepted, and is the period of its profile. */
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("fast.pb.gz"));
  grt_prof_config fast = {.path = path, .hz = 10000};
  CHECK(grt_prof_start(&fast) == 0);
  basic_hog(10 * 1000 * 1000);
  CHECK(grt_prof_stop() == 0);
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, 10000);
  pprof_free(&r);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  check_api_errors();

  /* 1 s of CPU at 100 Hz, to a path. */
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("basic.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = 100};
  CHECK(grt_prof_start(&cfg) == 0);
  CHECK(grt_prof_start(&cfg) == -EBUSY);
  basic_hog(1000 * 1000 * 1000);
  CHECK(grt_prof_stop() == 0);
  CHECK(grt_prof_stop() == -EINVAL);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, 100);
  CHECK(r.period == 10000000);
  int64_t n = hog_samples(&r);
  printf("basic_hog: %lld samples of %lld\n", (long long)n, (long long)pprof_total_count(&r));
  CHECK(n >= 10);
  pprof_free(&r);

  char *top = pprof_run("-top", path);
  printf("---- go tool pprof -top ----\n%s", top);
  CHECK(strstr(top, " basic_hog\n"));
  free(top);
  /* -lines: "... basic_hog /path/tests/prof_basic.c:NN" */
  top = pprof_run("-top -lines", path);
  printf("---- go tool pprof -top -lines ----\n%s", top);
  int with_line = 0;
  for (char *line = strtok(top, "\n"); line; line = strtok(NULL, "\n")) {
    const char *at = strstr(line, " basic_hog ");
    const char *file = at ? strstr(at, "prof_basic.c:") : NULL;
    if (!file) continue;
    int ln = atoi(file + strlen("prof_basic.c:"));
    CHECK(ln > HOG_FIRST_LINE && ln < HOG_LAST_LINE);
    with_line++;
  }
  CHECK(with_line > 0);
  free(top);

  /* SIGPROF stays ignored after stop (as in Go). */
  struct sigaction sa;
  CHECK(sigaction(SIGPROF, NULL, &sa) == 0);
  CHECK(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN);
  CHECK(raise(SIGPROF) == 0);

  /* To the caller's fd, at the default rate: grt leaves it open. */
  int fd = open(pprof_path("fd.pb.gz"), O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  grt_prof_config to_fd = {.path = NULL, .fd = fd, .hz = 0};
  CHECK(grt_prof_start(&to_fd) == 0);
  basic_hog(300 * 1000 * 1000);
  CHECK(grt_prof_stop() == 0);
  CHECK(fcntl(fd, F_GETFD) != -1);
  CHECK(lseek(fd, 0, SEEK_CUR) > 0); /* written through this fd */
  CHECK(close(fd) == 0);
  pprof_load(pprof_path("fd.pb.gz"), &r);
  pprof_check_cpu_profile(&r, 100);
  n = hog_samples(&r);
  printf("basic_hog to an fd: %lld samples\n", (long long)n);
  CHECK(n >= 3);
  pprof_free(&r);
  printf("prof_basic: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return grt_main(run, argc, argv);
}
