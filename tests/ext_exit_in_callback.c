/*
 * ext_exit_in_callback: grt_exit inside a grt_callback is the fatal error
 * grt.h documents (the external code that called back would never get
 * control again), on every goroutine.  Re-executed children call
 * grt_exit from a callback inside grt_extcall:
 *   - on the main goroutine (before the fix this exited the process with
 *     status 0, as a plain grt_exit on the main goroutine does);
 *   - on another goroutine.
 * Each must die of SIGABRT after a "fatal error" line naming grt_exit and
 * grt_callback, without running the code after grt_exit.  A child calling
 * grt_exit on the main goroutine outside any callback still exits 0 (it
 * hung now and then before the fix: with 2 Ps, another M could run the
 * main goroutine's grt_exit before grt_main had marked it as main).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void *exit_in_callback(void *arg) {
  (void)arg;
  grt_exit();
}

static void *external_code(void *arg) {
  (void)arg;
  grt_callback(exit_in_callback, NULL);
  printf("grt_exit returned to the external code\n");
  fflush(stdout);
  return NULL;
}

static grt_wg wg;

static void goroutine(void *arg) {
  (void)arg;
  grt_extcall(external_code, NULL);
  grt_wg_done(&wg);
}

static int child_main(int argc, char **argv) {
  (void)argc;
  if (strcmp(argv[1], "main") == 0) {
    grt_extcall(external_code, NULL);
  } else if (strcmp(argv[1], "other") == 0) {
    grt_wg_add(&wg, 1);
    CHECK(grt_go(goroutine, NULL) == 0);
    grt_wg_wait(&wg);
  } else {
    grt_exit(); /* "plain": the process exits with 0 */
  }
  printf("main went on after grt_exit\n");
  return 3;
}

static void check_child(const char *mode, int want_abort) {
  static char out[8192], err[8192];
  const char *args[] = {mode, NULL};
  int status = run_self(args, NULL, out, err, sizeof out);
  printf("%s: status %#x (%s %d)\n  stdout: %s  stderr: %s", mode, status,
         WIFSIGNALED(status) ? "signal" : "exit",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out[0] ? out : "(empty)\n",
         err[0] ? err : "(empty)\n");
  if (want_abort) {
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(err, "fatal error") && strstr(err, "grt_exit") && strstr(err, "grt_callback"));
    CHECK(out[0] == 0);
  } else {
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(out[0] == 0 && err[0] == 0);
  }
}

int main(int argc, char **argv) {
  if (argc > 1) {
    alarm(30); /* a hung child dies of SIGALRM, and fails the check */
    return main_with_procs("2", child_main, argc, argv);
  }
  check_child("main", 1);
  check_child("other", 1);
  check_child("plain", 0);
  printf("ext_exit_in_callback: ok\n");
  return 0;
}
