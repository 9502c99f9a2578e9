/*
 * ext_misuse: wrong or unusual uses of grt_extcall and grt_callback.
 *   - In plain main(), before grt_main: grt_callback returns NULL with errno
 *     EPERM without calling fn; grt_extcall just returns fn(arg); a NULL fn
 *     gives NULL with errno EINVAL for both.
 *   - In the runtime: a NULL fn gives EINVAL for both; grt_callback from a
 *     goroutine is a plain call (same goroutine, no callback frame counted).
 *   - From a signal handler running on the signal stack (SA_ONSTACK),
 *     grt_callback refuses with NULL and errno EDEADLK without calling fn:
 *     on a foreign pthread that already has an extra M (and so a signal
 *     stack), and on a goroutine's own thread.  The process must not
 *     deadlock (a watchdog alarm fails the test after 60 s).
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
#include <unistd.h>

#include "testutil.h"

static volatile int calls; /* times plus_one ran */

static void *plus_one(void *arg) {
  calls++;
  return (void *)((intptr_t)arg + 1);
}

/* ---- the signal handler ---- */

static volatile sig_atomic_t handled, handler_calls_before;
static void *volatile handler_result;
static volatile int handler_errno;

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  handler_calls_before = calls;
  errno = 0;
  handler_result = grt_callback(plus_one, (void *)(intptr_t)41);
  handler_errno = errno;
  handled = 1;
  errno = saved;
}

/* Raises SIGUSR1 on the calling thread (delivered before pthread_kill
 * returns) and checks the handler's grt_callback was refused. */
static void raise_and_check(const char *where) {
  handled = 0;
  handler_result = (void *)1;
  handler_errno = 0;
  int calls_before = calls;
  CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
  CHECK(handled);
  printf("%s: grt_callback in a signal handler returned %p, errno %s\n", where, handler_result,
         strerror(handler_errno));
  CHECK(handler_result == NULL);
  CHECK(handler_errno == EDEADLK);
  CHECK(calls == calls_before);
}

static void *foreign_thread(void *arg) {
  (void)arg;
  CHECK(grt_callback(plus_one, (void *)(intptr_t)1) == (void *)(intptr_t)2);
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  CHECK(st.known && st.is_extra && st.in_external);
  stack_t ss;
  CHECK(sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE)); /* it has one now */
  raise_and_check("foreign thread");
  /* Still usable afterwards. */
  CHECK(grt_callback(plus_one, (void *)(intptr_t)5) == (void *)(intptr_t)6);
  return NULL;
}

/* ---- inside the runtime ---- */

static uint64_t caller_id;

static void *in_goroutine(void *arg) {
  CHECK(grt_id() == caller_id);
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  CHECK(st.cb_depth == 0 && st.ext_depth == 0);
  return (void *)((intptr_t)arg * 2);
}

static grt_chan *done;

static void signalled_goroutine(void *arg) {
  (void)arg;
  raise_and_check("goroutine");
  CHECK(grt_chan_send(done, NULL) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  errno = 0;
  CHECK(grt_extcall(NULL, NULL) == NULL && errno == EINVAL);
  errno = 0;
  CHECK(grt_callback(NULL, NULL) == NULL && errno == EINVAL);

  caller_id = grt_id();
  CHECK(caller_id != 0);
  CHECK(grt_callback(in_goroutine, (void *)(intptr_t)21) == (void *)(intptr_t)42);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign_thread, NULL) == 0);
  CHECK(join_thread(t) == 0);

  done = grt_chan_make(0, 0);
  CHECK(done);
  CHECK(grt_go(signalled_goroutine, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);
  raise_and_check("main goroutine");
  printf("ext_misuse: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  alarm(60); /* a deadlock fails the test instead of hanging it */

  /* Before grt_main. */
  errno = 0;
  CHECK(grt_callback(plus_one, (void *)(intptr_t)1) == NULL);
  CHECK(errno == EPERM);
  CHECK(calls == 0);
  CHECK(grt_extcall(plus_one, (void *)(intptr_t)7) == (void *)(intptr_t)8);
  CHECK(calls == 1);
  errno = 0;
  CHECK(grt_extcall(NULL, NULL) == NULL && errno == EINVAL);
  errno = 0;
  CHECK(grt_callback(NULL, NULL) == NULL && errno == EINVAL);
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0 && !st.known);
  CHECK(grt_thread_state_get(NULL) == -EINVAL);

  return grt_main(run, argc, argv);
}
