/*
 * misuse_null: every call of grt.h that takes a pointer it cannot do
 * without, given NULL, fails cleanly: it returns the documented error (or,
 * for a void call, just returns) and prints exactly one stderr line that
 * names the call.  Before the fix grt_mutex_lock(NULL), grt_wg_add(NULL)
 * and their kin crashed with SIGSEGV.  Each call runs on a goroutine; the
 * mutex and wait group calls also on a plain thread (outside the runtime),
 * where they take other paths.  Pointers documented as optional (opts,
 * a receive's elem, stack bounds, host names) are not misuse.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "testutil.h"

static void nop(void *arg) {
  (void)arg;
}
static void *nop_ext(void *arg) {
  return arg;
}

/* The calls that work outside the runtime too. */
static void sync_calls(void) {
  int r = -1;
  ONE_LINE("grt_mutex_lock", grt_mutex_lock(NULL));
  ONE_LINE("grt_mutex_unlock", grt_mutex_unlock(NULL));
  ONE_LINE("grt_mutex_trylock", r = grt_mutex_trylock(NULL));
  CHECK(r == 0); /* never "acquired" */
  ONE_LINE("grt_wg_add", grt_wg_add(NULL, 1));
  ONE_LINE("grt_wg_done", grt_wg_done(NULL));
  ONE_LINE("grt_wg_wait", grt_wg_wait(NULL));
}

static void *plain_thread(void *arg) {
  (void)arg;
  sync_calls();
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  long r = 0;
  void *p = &r;
  int x = 1;
  char buf[4];

  sync_calls();
  pthread_t t;
  CHECK(pthread_create(&t, NULL, plain_thread, NULL) == 0);
  CHECK(join_thread(t) == 0);

  ONE_LINE("grt_chan_send", r = grt_chan_send(NULL, &x));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_chan_recv", r = grt_chan_recv(NULL, &x));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_chan_close", r = grt_chan_close(NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_chan_len", r = grt_chan_len(NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_chan_cap", r = grt_chan_cap(NULL));
  CHECK(r == -EINVAL);
  grt_chan *c = grt_chan_make(sizeof(int), 1);
  CHECK(c);
  ONE_LINE("grt_chan_send", r = grt_chan_send(c, NULL));
  CHECK(r == -EINVAL);
  grt_chan_free(c);
  ONE_LINE("grt_select", r = grt_select(NULL, 1, 0));
  CHECK(r == -EINVAL);

  ONE_LINE("grt_go", r = grt_go(NULL, NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_go", r = grt_go_with(NULL, NULL, NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_main", r = grt_main(NULL, 0, NULL));
  CHECK(r == -EINVAL);
  errno = 0;
  ONE_LINE("grt_extcall", p = grt_extcall(NULL, NULL));
  CHECK(p == NULL && errno == EINVAL);
  errno = 0;
  ONE_LINE("grt_callback", p = grt_callback(NULL, NULL));
  CHECK(p == NULL && errno == EINVAL);
  CHECK(grt_extcall(nop_ext, &x) == &x); /* still fine */

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  ONE_LINE("grt_read", r = grt_read(sv[0], NULL, 1, 0));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_write", r = grt_write(sv[0], NULL, 1, 0));
  CHECK(r == -EINVAL);
  CHECK(grt_write(sv[1], "ab", 2, -1) == 2); /* the fds still work */
  CHECK(grt_read(sv[0], buf, sizeof buf, -1) == 2);
  CHECK(grt_read(sv[0], NULL, 0, 0) == 0); /* 0 bytes: no buffer needed */
  grt_close(sv[0]);
  grt_close(sv[1]);

  ONE_LINE("grt_prof_start", r = grt_prof_start(NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_prof_do", grt_prof_do(NULL, NULL, NULL));
  errno = 0;
  ONE_LINE("grt_labels_make", p = grt_labels_make("key", NULL, NULL));
  CHECK(p == NULL && errno == EINVAL);
  ONE_LINE("grt_read_stats", r = grt_read_stats(NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_thread_state_get", r = grt_thread_state_get(NULL));
  CHECK(r == -EINVAL);

  /* Optional pointers: no error, no line. */
  CHECK(grt_stack_bounds(NULL, NULL) == 0);
  CHECK(grt_switch_ranges(NULL) > 0);
  grt_chan_free(NULL);
  grt_labels_release(NULL);
  CHECK(grt_go_with(NULL, nop, NULL) == 0);

  /* The runtime is fine after all that. */
  grt_mutex mu = GRT_MUTEX_INIT;
  grt_mutex_lock(&mu);
  grt_mutex_unlock(&mu);
  grt_wg wg = GRT_WG_INIT;
  grt_wg_add(&wg, 1);
  grt_wg_done(&wg);
  grt_wg_wait(&wg);
  printf("misuse_null: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
