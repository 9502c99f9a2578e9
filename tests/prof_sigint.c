/*
 * prof_sigint: a program profiled with GRT_CPUPROFILE and stopped with
 * Ctrl-C (SIGINT) or SIGTERM leaves a whole profile, then ends as the
 * signal would have ended it.  A child burns CPU in a goroutine until the
 * parent signals it; then:
 *   - SIGINT: the child dies of SIGINT; the profile reads with
 *     `go tool pprof -raw` and holds the burner's samples;
 *   - SIGTERM: the same, with SIGTERM;
 *   - SIGINT with a handler the program installed before grt_main (it
 *     exits 42): the profile is written, then that handler runs.
 * Before, the profile was a 0-byte file.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "pprof_raw.h"

__attribute__((noinline)) void burn_until_signal(void) {
  volatile unsigned long x = 0;
  for (;;)
    x++;
}

static void burner(void *arg) {
  (void)arg;
  burn_until_signal();
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_go(burner, NULL) == 0);
  /* Running, its profile and signal handling set up: the parent may
   * signal it now (a loaded machine, or an emulator, may take longer than
   * any fixed delay to get here). */
  CHECK(write(1, "ready\n", 6) == 6);
  for (;;)
    grt_sleep(1000000000);
}

static void exit42(int sig) {
  (void)sig;
  _exit(42);
}

/* Runs a child profiling to path, signals it 500 ms after it said it is
 * ready; its status. */
static int run_child(const char *mode, const char *path, int sig) {
  char env_path[300];
  snprintf(env_path, sizeof env_path, "GRT_CPUPROFILE=%s", path);
  const char *changes[] = {env_path, "GRT_CPUPROFILE_HZ=200", NULL};
  char **envp = env_with(changes);
  const char *args[] = {"child", mode, NULL};
  char **argv = self_command(args);
  int ready[2];
  CHECK(pipe(ready) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(ready[1], 1);
    close(ready[0]);
    close(ready[1]);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  free(argv);
  free(envp);
  close(ready[1]);
  char line[8] = {0};
  struct pollfd pf = {.fd = ready[0], .events = POLLIN};
  CHECK(poll(&pf, 1, 30000) == 1); /* 30 s */
  CHECK(read(ready[0], line, 6) == 6 && memcmp(line, "ready\n", 6) == 0);
  struct timespec ts = {0, 500000000};
  nanosleep(&ts, NULL);
  CHECK(kill(pid, sig) == 0);
  int status = 0;
  for (int waited = 0;; waited++) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    CHECK(r >= 0);
    if (r == pid) break;
    if (waited == 200) { /* 20 s */
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fprintf(stderr, "%s: the child did not end after signal %d\n", mode, sig);
      CHECK(0);
    }
    struct timespec tick = {0, 100000000};
    nanosleep(&tick, NULL);
  }
  close(ready[0]); /* open until the child ended: a later write gets no SIGPIPE */
  return status;
}

static void check_profile(const char *what, const char *path) {
  struct stat st;
  CHECK(stat(path, &st) == 0);
  printf("%s: profile of %lld bytes\n", what, (long long)st.st_size);
  CHECK(st.st_size > 0);
  struct pprof_raw r;
  pprof_load(path, &r);
  int64_t burn = 0;
  for (int i = 0; i < r.nsamples; i++)
    if (pprof_has_fn(&r, &r.samples[i], "burn_until_signal")) burn += r.samples[i].count;
  printf("%s: %lld samples, %lld in burn_until_signal\n", what, (long long)pprof_total_count(&r),
         (long long)burn);
  CHECK(burn > 0);
  pprof_free(&r);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) {
    if (strcmp(argv[2], "handler") == 0) signal(SIGINT, exit42);
    return grt_main(child, argc, argv);
  }
  pprof_skip_without_go();
  char path[256];

  snprintf(path, sizeof path, "%s", pprof_path("sigint.pb.gz"));
  int status = run_child("default", path, SIGINT);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
  check_profile("SIGINT", path);

  snprintf(path, sizeof path, "%s", pprof_path("sigterm.pb.gz"));
  status = run_child("default", path, SIGTERM);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  check_profile("SIGTERM", path);

  snprintf(path, sizeof path, "%s", pprof_path("handler.pb.gz"));
  status = run_child("handler", path, SIGINT);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
  check_profile("SIGINT with the program's handler", path);

  printf("ok\n");
  return 0;
}
