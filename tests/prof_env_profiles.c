/*
 * prof_env_profiles: GRT_BLOCKPROFILE, GRT_MUTEXPROFILE and GRT_WALLPROFILE
 * profile a whole run, as GRT_CPUPROFILE does (issue 14).  A child blocks
 * on a channel in `env_waiter`, contends a grt_mutex released in
 * `env_unlocks`, and sleeps; then:
 *   - "exit": main returns: all three files are written at exit and read
 *     with `go tool pprof -raw`: the block profile has env_waiter's wait,
 *     the mutex profile env_unlocks, the wall profile env_waiter asleep on
 *     its channel (state=chan receive);
 *   - "sigint": the child raises SIGINT at the end instead: the files are
 *     written first, then it dies of SIGINT;
 *   - bad values: an unwritable path, a rate of "abc": one stderr line
 *     each, that profile off (the rate falls back to its default), exit 0.
 * Skipped without go.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"
#include "pprof_raw.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static grt_chan *ch;
static grt_mutex mu = GRT_MUTEX_INIT;
static grt_wg done;

__attribute__((noinline)) static void env_waiter(void *arg) {
  (void)arg;
  for (int i = 0; i < 5; i++)
    CHECK(grt_chan_recv(ch, NULL) == 1);
  grt_wg_done(&done);
  NO_TAIL_CALL();
}

__attribute__((noinline)) static void env_unlocks(void) {
  grt_mutex_unlock(&mu);
  NO_TAIL_CALL();
}

static void contender(void *arg) {
  (void)arg;
  for (int i = 0; i < 10; i++) {
    grt_mutex_lock(&mu);
    grt_sleep(1000000);
    env_unlocks();
  }
  grt_wg_done(&done);
}

static int child(int argc, char **argv) {
  ch = grt_chan_make(0, 0);
  grt_wg_add(&done, 5);
  CHECK(grt_go(env_waiter, NULL) == 0);
  for (int i = 0; i < 4; i++)
    CHECK(grt_go(contender, NULL) == 0);
  for (int i = 0; i < 5; i++) {
    grt_sleep(40000000);
    CHECK(grt_chan_send(ch, NULL) == 0);
  }
  grt_wg_wait(&done);
  if (argc > 2 && strcmp(argv[2], "sigint") == 0) {
    raise(SIGINT);
    grt_sleep(10LL * 1000 * 1000 * 1000); /* the signal thread ends us first */
  }
  return 0;
}

/* The profile at path has a sample with fn in its stack (and, if label,
 * that label); prints how much. */
static void expect_fn(const char *path, const char *types, const char *fn, const char *label) {
  struct pprof_raw r;
  pprof_load(path, &r);
  CHECK(strcmp(r.types, types) == 0);
  int64_t n = 0;
  for (int i = 0; i < r.nsamples; i++)
    if (pprof_find_fn(&r, &r.samples[i], fn, 0) >= 0 &&
        (!label || strstr(r.samples[i].labels, label)))
      n += r.samples[i].count;
  printf("  %s: %lld under %s%s%s\n", strrchr(path, '/') + 1, (long long)n, fn,
         label ? " with " : "", label ? label : "");
  CHECK(n > 0);
  pprof_free(&r);
}

static void run(const char *mode) {
  char b[300], m[300], w[300];
  snprintf(b, sizeof b, "GRT_BLOCKPROFILE=%s", pprof_path("block.pb.gz"));
  snprintf(m, sizeof m, "GRT_MUTEXPROFILE=%s", pprof_path("mutex.pb.gz"));
  snprintf(w, sizeof w, "GRT_WALLPROFILE=%s", pprof_path("wall.pb.gz"));
  const char *env[] = {b, m, w, "GRT_WALLPROFILE_HZ=500", NULL};
  const char *args[] = {"child", mode, NULL};
  static char out[4096], err[4096];
  int status = run_self(args, env, out, err, sizeof out);
  printf("%s: status %#x, stderr: \"%s\"\n", mode, status, err);
  if (strcmp(mode, "sigint") == 0)
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
  else
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(err[0] == 0);
  expect_fn(pprof_path("block.pb.gz"), "contentions/count delay/nanoseconds", "env_waiter", NULL);
  expect_fn(pprof_path("mutex.pb.gz"), "contentions/count delay/nanoseconds", "env_unlocks", NULL);
  expect_fn(pprof_path("wall.pb.gz"), "samples/count wall/nanoseconds", "env_waiter",
            "state:[chan receive]");
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  pprof_skip_without_go();
  run("exit");
  run("sigint");

  /* Bad values: one line each; the program runs and exits 0. */
  const char *env[] = {"GRT_BLOCKPROFILE=/nonexistent-dir/block.pb.gz",
                       "GRT_MUTEXPROFILE=/dev/null", "GRT_MUTEXPROFILE_FRACTION=abc", NULL};
  const char *args[] = {"child", "exit", NULL};
  static char out[4096], err[4096];
  int status = run_self(args, env, out, err, sizeof out);
  printf("bad values: status %#x, stderr:\n%s", status, err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strstr(err, "GRT_BLOCKPROFILE") && strstr(err, "block profile off"));
  CHECK(strstr(err, "GRT_MUTEXPROFILE_FRACTION"));
  int lines = 0;
  for (const char *p = err; *p; p++)
    lines += *p == '\n';
  CHECK(lines == 2);
  pprof_tmpdir_remove();
  return 0;
}
