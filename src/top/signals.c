/*
 * signals.c - the signals grt_main takes over for the program:
 *   SIGQUIT            dump every goroutine to stderr, exit 2 (as Go);
 *   SIGINT, SIGTERM    only while the environment profiles the run
 *                      (GRT_CPUPROFILE, GRT_BLOCKPROFILE, ...): write the
 *                      profiles first, then take the signal's own action
 *                      (the default, or the handler the program had);
 *   any signal given to grt_signal_notify: its number is sent to every
 *                      channel registered for it (Go's signal.Notify),
 *                      instead of any of the above.
 *
 * Invariants:
 *  - The handler only writes the signal's number to a non-blocking pipe
 *    (async-signal-safe); a thread with every signal blocked does the work.
 *    A full pipe means the thread is awake already.
 *  - A SIGQUIT handler the program set before grt_main stays; an ignored
 *    SIGQUIT is taken (a process started with it ignored still dumps; set
 *    SIG_IGN after grt_main to ignore it).  An ignored SIGINT or SIGTERM
 *    stays ignored.  For SIGINT and SIGTERM the program's
 *    disposition is kept and put back before the signal is raised again,
 *    so the process ends (or goes on) exactly as it would have.
 *  - A forked child has no such thread: it gets the dispositions back.
 */
#define _GNU_SOURCE
#include "top/top.h"

#include "base/warn.h"
#include "grt.h"
#include "pprof/cpuprof.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static int sig_pipe[2] = {-1, -1};

/* grt_signal_notify's registrations (under notify_mu; the handler never
 * reads them: it only writes to the pipe). */
#define NOTIFY_MAX 16 /* channels per signal */
static pthread_mutex_t notify_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  grt_chan *chans[NOTIFY_MAX];
  int n;
  struct sigaction prev; /* before the first registration */
  bool had_prev;
} notify[NSIG];
static const int stop_signals[] = {SIGINT, SIGTERM};
static struct sigaction stop_prev[2]; /* the program's, for stop_signals */
static bool stop_ours[2];

static void on_signal(int sig) {
  int saved = errno;
  unsigned char c = (unsigned char)sig;
  ssize_t r = write(sig_pipe[1], &c, 1);
  (void)r;
  errno = saved;
}

static bool is_ours(int sig) {
  struct sigaction cur;
  return sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
         cur.sa_handler == on_signal;
}

static void fork_child(void) {
  if (is_ours(SIGQUIT)) signal(SIGQUIT, SIG_DFL);
  for (int i = 0; i < 2; i++)
    if (stop_ours[i] && is_ours(stop_signals[i])) sigaction(stop_signals[i], &stop_prev[i], NULL);
}

/* SIGINT or SIGTERM: the profile first, then the signal's own action. */
static void stop(int sig) {
  int err = cpuprof_stop();
  if (err && err != -EINVAL)
    warn_line("grt: writing the CPU profile on signal %d failed: %s", sig, strerror(-err));
  top_profiles_flush();
  for (int i = 0; i < 2; i++)
    if (stop_signals[i] == sig) sigaction(sig, &stop_prev[i], NULL);
  kill(getpid(), sig); /* to the process: a thread that takes it runs its action */
}

/* Sends sig to every channel registered for it; false if there is none. */
static bool deliver(int sig) {
  pthread_mutex_lock(&notify_mu);
  int n = notify[sig].n;
  for (int i = 0; i < n; i++)
    chan_try_send(notify[sig].chans[i], &sig); /* never blocks: a full channel misses it */
  pthread_mutex_unlock(&notify_mu);
  return n > 0;
}

static void *signal_thread(void *unused) {
  (void)unused;
  for (;;) {
    unsigned char c;
    ssize_t r = read(sig_pipe[0], &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r != 1) return NULL;
    if (deliver(c)) continue;
    if (c == SIGQUIT) {
      static const char hdr[] = "SIGQUIT: quit\n\n";
      ssize_t w = write(2, hdr, sizeof hdr - 1);
      (void)w;
      grt_dump(2);
      _exit(2);
    }
    stop(c);
  }
}

/* The pipe and the thread, once.  false (with one line) if either fails. */
static bool start_thread(void) {
  if (sig_pipe[0] >= 0) return true;
  if (pipe2(sig_pipe, O_CLOEXEC) != 0) {
    warn_line("grt: SIGQUIT dumps and profile-on-signal disabled: pipe: %s", strerror(errno));
    return false;
  }
  fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved); /* the thread inherits: no signal lands there */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, signal_thread, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (err) {
    warn_line("grt: SIGQUIT dumps and profile-on-signal disabled: pthread_create: %s",
              strerror(err));
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
    return false;
  }
  pthread_setname_np(t, "grt-signals");
  pthread_atfork(NULL, NULL, fork_child);
  return true;
}

static void take(int sig, struct sigaction *prev) {
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigaction(sig, &sa, prev);
}

void signals_install(bool profiling) {
  struct sigaction old;
  /* SIGQUIT: unless the program set a handler before grt_main.  An ignored
   * SIGQUIT is taken too: a process started with it ignored (nohup, a
   * shell's background job) still dumps, as in Go; a program that wants it
   * ignored sets SIG_IGN after grt_main. */
  if (sigaction(SIGQUIT, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
      (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) && start_thread())
    take(SIGQUIT, NULL);
  if (!profiling) return;
  for (int i = 0; i < 2; i++) {
    if (sigaction(stop_signals[i], NULL, &old) != 0) continue;
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) continue; /* stays ignored */
    if (!start_thread()) return;
    take(stop_signals[i], &stop_prev[i]);
    stop_ours[i] = true;
  }
}

/* ---- grt_signal_notify ---------------------------------------------------- */

static bool notifiable(int sig) {
  switch (sig) {
  case SIGKILL:
  case SIGSTOP: /* cannot be caught */
  case SIGPROF: /* the profiler's */
  case SIGSEGV:
  case SIGBUS:
  case SIGILL:
  case SIGFPE: /* faults: the runtime reports them */
    return false;
  default:
    return sig > 0 && sig < NSIG;
  }
}

/* Is sig one that signals_install took over (so stays ours)? */
static bool taken_at_start(int sig) {
  if (sig == SIGQUIT) return sig_pipe[0] >= 0;
  for (int i = 0; i < 2; i++)
    if (stop_signals[i] == sig) return stop_ours[i];
  return false;
}

int grt_signal_notify(grt_chan *c, int sig) {
  if (!c) {
    warn_line("grt: grt_signal_notify: NULL channel");
    return -EINVAL;
  }
  if (!notifiable(sig)) {
    warn_line("grt: grt_signal_notify: signal %d cannot be delivered to a channel", sig);
    return -EINVAL;
  }
  if (chan_elem_size(c) != sizeof(int)) {
    warn_line("grt: grt_signal_notify: the channel's elements are %zu bytes, not an int's",
              chan_elem_size(c));
    return -EINVAL;
  }
  if (!start_thread()) return -ENOMEM;
  pthread_mutex_lock(&notify_mu);
  int err = 0;
  for (int i = 0; i < notify[sig].n; i++)
    if (notify[sig].chans[i] == c) goto out; /* already */
  if (notify[sig].n == NOTIFY_MAX) {
    warn_line("grt: grt_signal_notify: %d channels for signal %d already", NOTIFY_MAX, sig);
    err = -ENOSPC;
    goto out;
  }
  if (!grt_chan_retain(c)) {
    err = -EINVAL;
    goto out;
  }
  notify[sig].chans[notify[sig].n++] = c;
  if (notify[sig].n == 1 && !taken_at_start(sig)) {
    take(sig, &notify[sig].prev);
    notify[sig].had_prev = true;
  }
out:
  pthread_mutex_unlock(&notify_mu);
  return err;
}

int grt_signal_stop(grt_chan *c) {
  if (!c) {
    warn_line("grt: grt_signal_stop: NULL channel");
    return -EINVAL;
  }
  int found = 0;
  pthread_mutex_lock(&notify_mu);
  for (int sig = 1; sig < NSIG; sig++) {
    for (int i = 0; i < notify[sig].n; i++) {
      if (notify[sig].chans[i] != c) continue;
      notify[sig].chans[i] = notify[sig].chans[--notify[sig].n];
      grt_chan_release(c);
      found++;
      break;
    }
    if (found && notify[sig].n == 0 && notify[sig].had_prev) {
      sigaction(sig, &notify[sig].prev, NULL); /* the program's again */
      notify[sig].had_prev = false;
    }
  }
  pthread_mutex_unlock(&notify_mu);
  return found;
}
