/*
 * fork_extcall: fork() from inside grt_extcall, without exec, 20 times.
 * The extcall lasts 20 ms first, while two goroutines keep both Ps wanted,
 * so sysmon hands the caller's P to another M: in the child, that M does
 * not exist.  The child returns from grt_extcall (this hung in stopm before
 * the runtime knew about fork: its P "belonged" to a missing thread), and
 * then, as documented in grt.h:
 *   - grt_go, grt_read, grt_callback, grt_read_stats and grt_dump refuse
 *     with ENOTSUP at once, and stderr gets exactly one line about fork;
 *   - grt_extcall calls fn directly, grt_sleep sleeps, grt_id is 0,
 *     grt_chan_send acts as outside a goroutine (-EPERM);
 *   - the child prints and _exit(0)s.
 * The parent gives each child 10 s (then kills it and fails), reads its
 * output through grt_read, and keeps working: afterwards goroutines still
 * run on both Ps and an extcall returns normally.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "testutil.h"
#include "forkutil.h"

#define ROUNDS 20

static _Atomic int stop;
static int out_pipe[2], err_pipe[2];

static void busy(void *unused) {
  (void)unused;
  while (!atomic_load(&stop))
    grt_yield();
}

static void *fork_in_extcall(void *unused) {
  (void)unused;
  struct timespec ts = {0, 20000000}; /* > sysmon's 10 ms: the P is retaken */
  nanosleep(&ts, NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
  }
  return (void *)(intptr_t)pid;
}

static void *plus_one(void *arg) {
  return (void *)((intptr_t)arg + 1);
}

static void nothing(void *unused) {
  (void)unused;
}

/* In the child, back from grt_extcall on the goroutine's stack. */
static void child(void) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  char c;
  int64_t t0 = grt_nanotime();
  CHECK(grt_id() == 0);
  CHECK(grt_go(nothing, NULL) == -ENOTSUP);
  CHECK(grt_read(sv[0], &c, 1, 5000000000) == -ENOTSUP);
  errno = 0;
  CHECK(grt_callback(plus_one, (void *)1) == NULL && errno == ENOTSUP);
  grt_stats st;
  CHECK(grt_read_stats(&st) == -ENOTSUP);
  CHECK(grt_dump(1) == -ENOTSUP);
  CHECK(grt_extcall(plus_one, (void *)41) == (void *)42);
  grt_sleep(1000000);
  grt_chan *ch = grt_chan_make(sizeof(int), 1);
  CHECK(ch);
  int v = 1;
  CHECK(grt_chan_send(ch, &v) == -EPERM);
  int64_t ms = (grt_nanotime() - t0) / 1000000;
  CHECK(ms < 1000);
  printf("child ok in %lld ms\n", (long long)ms);
  fflush(stdout);
  _exit(0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < 2; i++)
    CHECK(grt_go(busy, NULL) == 0);
  for (int round = 0; round < ROUNDS; round++) {
    CHECK(pipe(out_pipe) == 0 && pipe(err_pipe) == 0);
    fflush(NULL);
    pid_t pid = (pid_t)(intptr_t)grt_extcall(fork_in_extcall, NULL);
    CHECK(pid >= 0);
    if (pid == 0) child();
    close(out_pipe[1]);
    close(err_pipe[1]);
    int status = wait_child(pid, 10, "fork inside grt_extcall");
    char out[4096], err[4096];
    read_all(out_pipe[0], out, sizeof out);
    read_all(err_pipe[0], err, sizeof err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(out, "child ok") ||
        count_of(err, FORK_LINE) != 1) {
      fprintf(stderr, "round %d: child status %#x\nits stdout:\n%sits stderr:\n%s", round, status,
              out, err);
      CHECK(0);
    }
    if (round == 0) printf("round 0: %sits stderr:\n%s", out, err);
  }
  /* The parent works on: goroutines run, extcalls return, reads wake. */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(grt_extcall(plus_one, (void *)1) == (void *)2);
  CHECK(grt_write(sv[1], "x", 1, -1) == 1);
  char c;
  CHECK(grt_read(sv[0], &c, 1, 5000000000) == 1 && c == 'x');
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0 && st.goroutines >= 3);
  atomic_store(&stop, 1);
  printf("fork_extcall: %d forks inside grt_extcall, children refused cleanly; ok\n", ROUNDS);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
