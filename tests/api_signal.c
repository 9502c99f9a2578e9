/*
 * api_signal: signals as channels (grt_signal_notify / grt_signal_stop, as
 * Go's signal.Notify).
 *   - SIGUSR1 and SIGINT notified on a buffered channel arrive there as
 *     their numbers, and a notified SIGINT does not end the process;
 *   - after grt_signal_stop, SIGUSR1 has its old action back (a handler
 *     the test installed before, which counts);
 *   - a signal blocked in the thread that called grt_main stays blocked on
 *     grt's threads (a program can sigwait for it), while SIGPROF and
 *     SIGSEGV are never blocked there;
 *   - misuse: NULL, SIGKILL/SIGSEGV, a channel of the wrong size.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"

static _Atomic int usr1_handled;

static void count_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&usr1_handled, 1);
}

static int recv_sig(grt_chan *c) {
  grt_chan *after = grt_after(2000 * 1000000LL);
  int v = 0;
  grt_select_case cs[2] = {{.chan = c, .dir = GRT_RECV, .elem = &v},
                           {.chan = after, .dir = GRT_RECV, .elem = NULL}};
  int r = grt_select(cs, 2, 1);
  grt_chan_release(after);
  return r == 0 ? v : -1;
}

static grt_chan *mask_done;
static void check_mask(void *arg) {
  (void)arg;
  /* Another goroutine, likely on another thread: the mask is grt_main's
   * caller's (SIGUSR2 blocked), less grt's own signals. */
  sigset_t cur;
  CHECK(pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0);
  CHECK(sigismember(&cur, SIGUSR2) == 1);
  CHECK(sigismember(&cur, SIGPROF) == 0 && sigismember(&cur, SIGSEGV) == 0);
  int one = 1;
  CHECK(grt_chan_send(mask_done, &one) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_chan *sigs = grt_chan_make(sizeof(int), 4);
  CHECK(sigs);
  CHECK(grt_signal_notify(sigs, SIGUSR1) == 0);
  CHECK(grt_signal_notify(sigs, SIGINT) == 0);
  CHECK(grt_signal_notify(sigs, SIGUSR1) == 0); /* again: no change */
  CHECK(kill(getpid(), SIGUSR1) == 0);
  CHECK(recv_sig(sigs) == SIGUSR1);
  CHECK(kill(getpid(), SIGINT) == 0); /* notified: the process lives on */
  CHECK(recv_sig(sigs) == SIGINT);
  CHECK(atomic_load(&usr1_handled) == 0);
  CHECK(grt_signal_stop(sigs) == 2);
  CHECK(kill(getpid(), SIGUSR1) == 0); /* the test's handler again */
  for (int i = 0; i < 200 && atomic_load(&usr1_handled) == 0; i++)
    grt_sleep(1000000);
  CHECK(atomic_load(&usr1_handled) == 1);
  grt_chan_release(sigs);

  mask_done = grt_chan_make(sizeof(int), 4);
  for (int i = 0; i < 4; i++)
    CHECK(grt_go(check_mask, NULL) == 0);
  /* Keep this P busy, so the checkers run on another M's thread. */
  for (int64_t end = grt_nanotime() + 50 * 1000000LL; grt_nanotime() < end;)
    ;
  for (int i = 0; i < 4; i++)
    CHECK(grt_chan_recv(mask_done, NULL) == 1);
  grt_chan_release(mask_done);

  grt_chan *bad = grt_chan_make(sizeof(long), 1);
  CHECK(grt_signal_notify(bad, SIGUSR1) == -EINVAL);
  grt_chan_release(bad);
  grt_chan *ok = grt_chan_make(sizeof(int), 1);
  CHECK(grt_signal_notify(NULL, SIGUSR1) == -EINVAL);
  CHECK(grt_signal_notify(ok, SIGKILL) == -EINVAL && grt_signal_notify(ok, SIGSEGV) == -EINVAL);
  CHECK(grt_signal_stop(ok) == 0 && grt_signal_stop(NULL) == -EINVAL);
  grt_chan_release(ok);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGUSR1, count_usr1);
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigaddset(&usr2, SIGPROF); /* grt unblocks this one */
  pthread_sigmask(SIG_BLOCK, &usr2, NULL);
  return main_with_procs("2", run, argc, argv);
}
