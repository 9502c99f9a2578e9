/*
 * dump_signal: grt_dump called from a signal handler running on the signal
 * stack (SA_ONSTACK) refuses with -EDEADLK, prints one line on stderr, and
 * writes nothing; the process goes on.  (It used to take a snapshot from
 * inside the handler and crashed about half the time.)
 *
 * The child (this program re-run with "child") installs a SIGUSR1 handler
 * that calls grt_dump, then raises SIGUSR1 on its own thread (delivered
 * before pthread_kill returns) from: the main goroutine; 4 goroutines on
 * 2 Ps, 5 times each with yields between; a foreign pthread that has an
 * extra M (after a grt_callback); and a plain pthread with a signal stack
 * of its own and no M.  Each time the handler must see -EDEADLK and the
 * dump's fd must stay empty; afterwards grt_dump works again.  The parent
 * runs the child 6 times: each must exit 0 with one refusal line on stderr
 * per signal.  A watchdog alarm fails a hung child.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define GOROUTINES 4
#define RAISES 5
#define RUNS 6

/* ---- child ---- */

static int dump_fd;
/* Per thread: goroutines on the 2 Ps raise at the same time.  A goroutine
 * stays on its thread from the raise to the check (nothing parks there). */
static __thread volatile sig_atomic_t handled;
static __thread volatile int handler_result;

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  handler_result = grt_dump(dump_fd);
  handled = 1;
  errno = saved;
}

static _Atomic int signals; /* raised so far, for the refusal-line count */

/* Raises SIGUSR1 on the calling thread and checks the handler's grt_dump
 * was refused and wrote nothing. */
static void raise_and_check(const char *where) {
  handled = 0;
  handler_result = 1;
  CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
  CHECK(handled);
  signals++;
  if (handler_result != -EDEADLK) {
    fprintf(stderr, "%s: grt_dump in a signal handler returned %d, want -EDEADLK\n", where,
            handler_result);
    exit(1);
  }
  CHECK(lseek(dump_fd, 0, SEEK_END) == 0);
}

static grt_chan *done;

static void signalled(void *arg) {
  (void)arg;
  for (int i = 0; i < RAISES; i++) {
    raise_and_check("goroutine");
    grt_yield();
  }
  CHECK(grt_chan_send(done, NULL) == 0);
}

static void *empty(void *arg) {
  return arg;
}

/* A thread grt did not create, with an extra M (and so grt's signal stack)
 * after its first callback. */
static void *foreign_with_m(void *arg) {
  (void)arg;
  CHECK(grt_callback(empty, (void *)1) == (void *)1);
  raise_and_check("foreign thread with an extra M");
  return NULL;
}

/* A thread grt never saw, with a signal stack of its own. */
static void *foreign_plain(void *arg) {
  (void)arg;
  size_t size = 64 * 1024;
  void *ss = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(ss != MAP_FAILED);
  stack_t st = {.ss_sp = ss, .ss_size = size, .ss_flags = 0};
  CHECK(sigaltstack(&st, NULL) == 0);
  raise_and_check("plain foreign thread");
  st.ss_flags = SS_DISABLE;
  CHECK(sigaltstack(&st, NULL) == 0);
  munmap(ss, size);
  return NULL;
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  dump_fd = memfd_create("dump", 0);
  CHECK(dump_fd >= 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

  raise_and_check("main goroutine");
  done = grt_chan_make(0, 0);
  CHECK(done);
  for (int i = 0; i < GOROUTINES; i++)
    CHECK(grt_go(signalled, NULL) == 0);
  for (int i = 0; i < GOROUTINES; i++)
    CHECK(grt_chan_recv(done, NULL) == 1);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign_with_m, NULL) == 0);
  CHECK(join_thread(t) == 0);
  CHECK(pthread_create(&t, NULL, foreign_plain, NULL) == 0);
  CHECK(join_thread(t) == 0);

  /* Outside a handler, grt_dump still works. */
  char *d = dump_to_string();
  CHECK(strstr(d, "goroutine 1 [running]") != NULL);
  free(d);
  printf("signals %d\n", signals);
  printf("dump_signal child: ok\n");
  return 0;
}

/* ---- parent ---- */

static int count(const char *s, const char *what) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
    n++;
  return n;
}

static int parent(int argc, char **argv) {
  (void)argc;
  (void)argv;
  static char out[1 << 16], err[1 << 16];
  const char *args[] = {"child", NULL};
  const char *env[] = {"GRT_MAXPROCS=2", NULL};
  for (int run = 1; run <= RUNS; run++) {
    int status = run_self(args, env, out, err, sizeof out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(out, "dump_signal child: ok")) {
      if (WIFSIGNALED(status))
        printf("run %d: child killed by signal %d\n", run, WTERMSIG(status));
      else
        printf("run %d: child exited with status %d\n", run, WEXITSTATUS(status));
      printf("stdout:\n%sstderr:\n%s", out, err);
      CHECK(!"the child failed");
    }
    int signals = 0;
    CHECK(sscanf(strstr(out, "signals "), "signals %d", &signals) == 1);
    CHECK(signals == 1 + GOROUTINES * RAISES + 2);
    int lines = count(err, "grt_dump called from a signal handler; refused");
    printf("run %d: %d signals, %d refusal lines\n", run, signals, lines);
    if (lines != signals) printf("stderr:\n%s", err);
    CHECK(lines == signals);
  }
  printf("dump_signal: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  alarm(120); /* a deadlock fails the test instead of hanging it */
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  return grt_main(parent, argc, argv);
}
