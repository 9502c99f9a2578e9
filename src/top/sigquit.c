/*
 * sigquit.c - SIGQUIT dumps every goroutine to stderr and exits with
 * status 2, as in Go.
 *
 * Invariants:
 *  - The handler only writes a byte to a non-blocking pipe (async-signal-
 *    safe); a thread with every signal blocked does the dump, then exits
 *    the process.  A full pipe means the thread is awake already.
 *  - A disposition the program set before grt_main (a handler, or SIG_IGN)
 *    is left alone.
 *  - A child of fork() has the default action (fork_child).
 */
#define _GNU_SOURCE
#include "top/top.h"

#include "base/warn.h"
#include "grt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int quit_pipe[2] = {-1, -1};

static void sigquit_handler(int sig) {
  (void)sig;
  int saved = errno;
  char c = 'q';
  ssize_t r = write(quit_pipe[1], &c, 1); /* non-blocking: a full pipe already woke it */
  (void)r;
  errno = saved;
}

/* A forked child has no quit thread, and its handler would write to the
 * pipe the parent's thread reads: SIGQUIT would dump and end the parent.
 * The child gets the default action back (unless the program put its own
 * handler in ours' place). */
static void fork_child(void) {
  struct sigaction cur;
  if (sigaction(SIGQUIT, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
      cur.sa_handler == sigquit_handler)
    signal(SIGQUIT, SIG_DFL);
}

static void *quit_thread(void *unused) {
  (void)unused;
  char c;
  for (;;) {
    ssize_t r = read(quit_pipe[0], &c, 1);
    if (r == 1) break;
    if (r < 0 && errno == EINTR) continue;
    return NULL;
  }
  static const char hdr[] = "SIGQUIT: quit\n\n";
  ssize_t w = write(2, hdr, sizeof hdr - 1);
  (void)w;
  grt_dump(2);
  _exit(2);
}

void sigquit_install(void) {
  struct sigaction old;
  if (sigaction(SIGQUIT, NULL, &old) != 0) return;
  /* A handler the program set (or SIG_IGN) before grt_main stays. */
  if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) return;
  if (pipe2(quit_pipe, O_CLOEXEC) != 0) {
    warn_line("grt: SIGQUIT dumps disabled: pipe: %s", strerror(errno));
    return;
  }
  fcntl(quit_pipe[1], F_SETFL, O_NONBLOCK);
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved); /* the thread inherits: no signal lands there */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, quit_thread, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (err) {
    warn_line("grt: SIGQUIT dumps disabled: pthread_create: %s", strerror(err));
    close(quit_pipe[0]);
    close(quit_pipe[1]);
    quit_pipe[0] = quit_pipe[1] = -1;
    return;
  }
  pthread_setname_np(t, "grt-sigquit");
  struct sigaction sa = {0};
  sa.sa_handler = sigquit_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigaction(SIGQUIT, &sa, NULL);
  pthread_atfork(NULL, NULL, fork_child);
}
