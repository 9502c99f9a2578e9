/*
 * fork_exec: fork + exec from goroutines keeps working (grt.h: what grt
 * supports after fork is exec).  10 times each: fork straight from a
 * goroutine and exec /bin/true; fork inside grt_extcall and exec /bin/sh
 * -c 'exit 3'; both while two goroutines keep the Ps busy.  Each child
 * must exit with the status of what it ran, within 10 s.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"
#include "forkutil.h"

#define ROUNDS 10

static _Atomic int stop;

static void busy(void *unused) {
  (void)unused;
  while (!atomic_load(&stop))
    grt_yield();
}

static void *fork_exec_sh(void *unused) {
  (void)unused;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
    _exit(127);
  }
  return (void *)(intptr_t)pid;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < 2; i++)
    CHECK(grt_go(busy, NULL) == 0);
  fflush(NULL);
  for (int i = 0; i < ROUNDS; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/true", "true", (char *)NULL);
      _exit(127);
    }
    CHECK(pid > 0);
    int status = wait_child(pid, 10, "fork + exec /bin/true from a goroutine");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    pid = (pid_t)(intptr_t)grt_extcall(fork_exec_sh, NULL);
    CHECK(pid > 0);
    status = wait_child(pid, 10, "fork + exec /bin/sh inside grt_extcall");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  }
  atomic_store(&stop, 1);
  printf("fork_exec: %d x 2 fork + exec; ok\n", ROUNDS);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
