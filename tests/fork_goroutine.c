/*
 * fork_goroutine: fork() straight from a goroutine, without exec.  In the
 * child the runtime is gone (grt.h): grt_read on a socketpair, grt_write,
 * grt_close and grt_go return -ENOTSUP at once (before, the child's
 * grt_read parked on the parent's epoll instance, whose events the
 * parent's poller took: it timed out or hung), with exactly one line on
 * stderr.  Then the child ends one of three ways, by round:
 *   - _exit(0);
 *   - the goroutine's function returns: the child exits with status 0;
 *   - SIGQUIT: the child dies of it (the default action), and the parent,
 *     whose SIGQUIT handler dumps goroutines and exits, is not touched.
 * The parent gives each child 10 s (then kills it and fails) and works on
 * afterwards: goroutines talk over a socketpair with grt_read/grt_write.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "testutil.h"
#include "forkutil.h"

#define ROUNDS 9

static int sv[2], out_pipe[2], err_pipe[2];
static grt_chan *pids;

static void nothing(void *unused) {
  (void)unused;
}

static void forker(void *arg) {
  int round = (int)(intptr_t)arg;
  fflush(NULL);
  pid_t pid = fork();
  if (pid != 0) {
    CHECK(grt_chan_send(pids, &pid) == 0);
    return;
  }
  dup2(out_pipe[1], 1);
  dup2(err_pipe[1], 2);
  char c = 0;
  int64_t t0 = grt_nanotime();
  CHECK(grt_read(sv[1], &c, 1, 2000000000) == -ENOTSUP);
  CHECK(grt_write(sv[1], &c, 1, 2000000000) == -ENOTSUP);
  CHECK(grt_go(nothing, NULL) == -ENOTSUP);
  CHECK(grt_close(sv[1]) == -ENOTSUP);
  CHECK(grt_id() == 0);
  int64_t ms = (grt_nanotime() - t0) / 1000000;
  CHECK(ms < 1000);
  printf("child ok in %lld ms\n", (long long)ms);
  fflush(stdout);
  switch (round % 3) {
  case 0:
    _exit(0);
  case 1:
    return; /* the goroutine ends: so does the child, with status 0 */
  default:
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    raise(SIGQUIT);
    _exit(3); /* not reached */
  }
}

static void echo(void *unused) {
  (void)unused;
  char buf[64];
  ssize_t n = grt_read(sv[1], buf, sizeof buf, 5000000000);
  CHECK(n > 0);
  CHECK(grt_write(sv[1], buf, (size_t)n, 5000000000) == n);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  pids = grt_chan_make(sizeof(pid_t), 1);
  CHECK(pids);
  for (int round = 0; round < ROUNDS; round++) {
    CHECK(pipe(out_pipe) == 0 && pipe(err_pipe) == 0);
    CHECK(grt_go(forker, (void *)(intptr_t)round) == 0);
    pid_t pid;
    CHECK(grt_chan_recv(pids, &pid) == 1);
    close(out_pipe[1]);
    close(err_pipe[1]);
    int status = wait_child(pid, 10, "fork from a goroutine");
    char out[4096], err[4096];
    read_all(out_pipe[0], out, sizeof out);
    read_all(err_pipe[0], err, sizeof err);
    int want_sig = round % 3 == 2;
    bool ended_right = want_sig ? WIFSIGNALED(status) && WTERMSIG(status) == SIGQUIT
                                : WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ended_right || !strstr(out, "child ok") || count_of(err, FORK_LINE) != 1) {
      fprintf(stderr, "round %d: child status %#x\nits stdout:\n%sits stderr:\n%s", round, status,
              out, err);
      CHECK(0);
    }
    if (round < 3)
      printf("round %d: %s, %s", round,
             want_sig     ? "killed by SIGQUIT"
             : round == 0 ? "_exit(0)"
                          : "returned: status 0",
             out);
  }
  /* The parent's netpoll and scheduler work on. */
  CHECK(grt_go(echo, NULL) == 0);
  CHECK(grt_write(sv[0], "ping", 4, 5000000000) == 4);
  char buf[8] = {0};
  CHECK(grt_read(sv[0], buf, sizeof buf - 1, 5000000000) == 4 && strcmp(buf, "ping") == 0);
  printf("fork_goroutine: %d forks from goroutines; ok\n", ROUNDS);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
