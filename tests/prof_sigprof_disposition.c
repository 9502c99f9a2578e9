/*
 * prof_sigprof_disposition: grt_main sets SIGPROF's disposition, as Go does.
 *   - A program that set none: SIGPROF is ignored from grt_main on, so one
 *     sent before any profile started (kill, raise, to another thread) does
 *     not kill the process with the default action; it stays ignored after
 *     a profile has come and gone.
 *   - A program that installed its own handler before grt_main (checked in
 *     a re-executed child): grt_main leaves it; a profile takes SIGPROF
 *     over while it runs and gives the handler back at grt_prof_stop.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void check_ignored(const char *when) {
  struct sigaction sa;
  CHECK(sigaction(SIGPROF, NULL, &sa) == 0);
  printf("%s: SIGPROF is %s\n", when,
         (sa.sa_flags & SA_SIGINFO) ? "handled"
         : sa.sa_handler == SIG_IGN ? "ignored"
         : sa.sa_handler == SIG_DFL ? "default (fatal)"
                                    : "handled");
  CHECK(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN);
}

static void *idle_thread(void *arg) {
  (void)arg;
  pause();
  return NULL;
}

static void profile_briefly(void) {
  int fd = memfd_create("prof", 0);
  CHECK(fd >= 0);
  CHECK(grt_prof_start(&(grt_prof_config){.path = NULL, .fd = fd, .hz = 100}) == 0);
  grt_sleep(20 * 1000 * 1000);
  CHECK(grt_prof_stop() == 0);
  close(fd);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  check_ignored("before any profile");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, idle_thread, NULL) == 0);
  CHECK(kill(getpid(), SIGPROF) == 0);
  CHECK(raise(SIGPROF) == 0);
  CHECK(pthread_kill(t, SIGPROF) == 0);
  grt_sleep(50 * 1000 * 1000); /* time for any of them to be delivered */
  printf("survived SIGPROF before any profile\n");

  profile_briefly();
  check_ignored("after a profile");
  CHECK(kill(getpid(), SIGPROF) == 0);
  grt_sleep(20 * 1000 * 1000);
  printf("prof_sigprof_disposition: ok\n");
  return 0;
}

/* ---- the child: a program with its own SIGPROF handler ---- */

static atomic_int own_calls;

static void own_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&own_calls, 1);
}

static int is_own_handler(void) {
  struct sigaction sa;
  CHECK(sigaction(SIGPROF, NULL, &sa) == 0);
  return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == own_handler;
}

static int run_own(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(is_own_handler()); /* grt_main left it */
  CHECK(raise(SIGPROF) == 0);
  CHECK(atomic_load(&own_calls) == 1);
  profile_briefly();
  CHECK(is_own_handler()); /* given back at stop */
  CHECK(raise(SIGPROF) == 0);
  CHECK(atomic_load(&own_calls) == 2);
  printf("own handler kept: %d calls\n", atomic_load(&own_calls));
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "own") == 0) {
    signal(SIGPROF, own_handler);
    return grt_main(run_own, argc, argv);
  }
  if (argc > 1) return 2;
  /* The child first: its result is reported whatever the parent does. */
  char out[4096], err[4096];
  const char *args[] = {"own", NULL};
  int status = run_self(args, NULL, out, err, sizeof out);
  printf("child with its own handler: status %#x\n  stdout: %s  stderr: %s\n", status, out,
         err[0] ? err : "(empty)\n");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  int r = grt_main(run, argc, argv);
  return r;
}
