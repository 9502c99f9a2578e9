/*
 * prof_env: GRT_CPUPROFILE / GRT_CPUPROFILE_HZ profile the whole run of
 * grt_main, and bad values never stop the program.  Each case re-runs this
 * program as a child that burns CPU in env_hog and prints "done":
 *   - a good path and rate: the profile is written at exit and the real
 *     `go tool pprof -top` names env_hog (skipped without go);
 *   - a path that cannot be opened (a directory, a missing directory): one
 *     stderr line naming the variable and the reason, exit 0, "done";
 *   - /dev/full (opens, but the write at exit fails): one stderr line,
 *     exit 0;
 *   - GRT_CPUPROFILE_HZ of abc, 0, -5, 1e9, 10001: one stderr line naming
 *     GRT_CPUPROFILE_HZ, no profile file, exit 0, "done".
 */
#define _GNU_SOURCE
#include <grt.h>

#include <sys/stat.h>
#include <time.h>

#include "testutil.h"

static volatile uint64_t sink;

__attribute__((noinline)) static void env_hog(double seconds) {
  struct timespec t0, t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  do {
    for (int i = 0; i < 100000; i++)
      sink += (uint64_t)i * 2654435761u;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < seconds);
}

static int child_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  env_hog(0.5);
  printf("done\n");
  return 0;
}

static char out[4096], err[8192];

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Runs the child with the given environment; checks it ran to the end. */
static void run_child(const char *const env[]) {
  const char *args[] = {"child", NULL};
  int status = run_self(args, env, out, err, sizeof out);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strcmp(out, "done\n") != 0)
    fprintf(stderr, "child status %#x\nstdout: %s\nstderr: %s\n", status, out, err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strcmp(out, "done\n") == 0);
}

static void expect_one_error(const char *must_contain, const char *and_contain) {
  if (count_lines(err) != 1 || !strstr(err, must_contain) || !strstr(err, and_contain))
    fprintf(stderr, "expected one line with \"%s\" and \"%s\", got:\n%s", must_contain, and_contain,
            err);
  CHECK(count_lines(err) == 1);
  CHECK(strstr(err, must_contain) && strstr(err, and_contain));
}

static int have_go(void) {
  return system("command -v go >/dev/null 2>&1") == 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child_main, argc, argv);

  char dir[] = "/tmp/prof_env.XXXXXX";
  CHECK(mkdtemp(dir));
  char good[256], env_path[300], missing[300], isdir[300];
  snprintf(good, sizeof good, "%s/run.pb.gz", dir);
  snprintf(env_path, sizeof env_path, "GRT_CPUPROFILE=%s", good);
  snprintf(missing, sizeof missing, "GRT_CPUPROFILE=%s/no/such/dir/p.pb.gz", dir);
  snprintf(isdir, sizeof isdir, "GRT_CPUPROFILE=%s", dir);

  /* A good path and rate: written at exit, readable by go tool pprof. */
  const char *env_good[] = {env_path, "GRT_CPUPROFILE_HZ=250", NULL};
  run_child(env_good);
  CHECK(err[0] == 0);
  struct stat st;
  CHECK(stat(good, &st) == 0 && st.st_size > 0);
  if (have_go()) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "HOME=%s GOCACHE=%s/gocache GOFLAGS= go tool pprof -top -symbolize=none %s 2>&1 | "
             "grep -q env_hog",
             dir, dir, good);
    CHECK(system(cmd) == 0);
  } else {
    printf("go not on PATH: profile contents not checked\n");
  }
  unlink(good);

  /* Paths that cannot be opened. */
  const char *env_missing[] = {missing, NULL};
  run_child(env_missing);
  expect_one_error("GRT_CPUPROFILE", "No such file or directory");
  const char *env_isdir[] = {isdir, NULL};
  run_child(env_isdir);
  expect_one_error("GRT_CPUPROFILE", "Is a directory");

  /* Opens, but the write at exit fails. */
  const char *env_full[] = {"GRT_CPUPROFILE=/dev/full", NULL};
  run_child(env_full);
  expect_one_error("CPU profile", "No space left on device");

  /* Bad rates: profiling stays off. */
  const char *bad_hz[] = {"abc", "0", "-5", "1e9", "10001", ""};
  for (int i = 0; bad_hz[i][0]; i++) {
    char hz[64];
    snprintf(hz, sizeof hz, "GRT_CPUPROFILE_HZ=%s", bad_hz[i]);
    const char *env_bad[] = {env_path, hz, NULL};
    run_child(env_bad);
    expect_one_error("GRT_CPUPROFILE_HZ", bad_hz[i]);
    CHECK(stat(good, &st) != 0); /* no profile: profiling was off */
  }

  rmdir(dir);
  printf("ok\n");
  return 0;
}
