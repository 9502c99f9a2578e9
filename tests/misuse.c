/*
 * misuse: wrong calls fail cleanly instead of crashing.  Before grt_main:
 * grt_go, channel send/recv and grt_select return -EPERM, grt_id is 0,
 * grt_yield is harmless.  Inside the runtime: NULL channels give -EINVAL,
 * an oversized element gives NULL/EINVAL, a bad select case gives -EINVAL,
 * unlocking an unlocked mutex and driving a wait group negative print one
 * line naming the call and leave the object usable, grt_chan_free(NULL) is
 * a no-op, grt_go(NULL, ...) is -EINVAL.  A bad GRT_MAXPROCS (checked in
 * re-executed children) warns about GRT_MAXPROCS and falls back to the
 * number of online CPUs; an empty one falls back silently.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void nop(void *arg) {
  (void)arg;
}

/* ---- inside the runtime ---- */

static grt_wg wg;

static void finisher(void *arg) {
  (void)arg;
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int x = 1;
  CHECK(grt_id() == 1);

  /* NULL channels. */
  CHECK(grt_chan_send(NULL, &x) == -EINVAL);
  CHECK(grt_chan_recv(NULL, &x) == -EINVAL);
  CHECK(grt_chan_close(NULL) == -EINVAL);
  CHECK(grt_chan_len(NULL) == -EINVAL);
  CHECK(grt_chan_cap(NULL) == -EINVAL);
  grt_chan_free(NULL); /* no-op */

  /* Element size limit. */
  errno = 0;
  CHECK(grt_chan_make(65537, 1) == NULL);
  CHECK(errno == EINVAL);
  grt_chan *big = grt_chan_make(65536, 1);
  CHECK(big != NULL); /* the limit itself is allowed */
  grt_chan_free(big);

  /* A NULL element to send on a channel with a nonzero element size. */
  grt_chan *c = grt_chan_make(sizeof(int), 1);
  CHECK(c);
  CHECK(grt_chan_send(c, NULL) == -EINVAL);
  CHECK(grt_chan_len(c) == 0);

  /* Bad select arguments. */
  grt_select_case bad = {.chan = c, .dir = 3, .elem = &x};
  CHECK(grt_select(&bad, 1, 0) == -EINVAL);
  bad.dir = 0;
  CHECK(grt_select(&bad, 1, 1) == -EINVAL);
  grt_select_case good = {.chan = c, .dir = GRT_RECV, .elem = &x};
  CHECK(grt_select(&good, -1, 0) == -EINVAL);
  CHECK(grt_select(NULL, 1, 0) == -EINVAL);
  CHECK(grt_select(&good, 65537, 0) == -EINVAL);
  CHECK(grt_select(&good, 1, 0) == -EAGAIN); /* still usable: c is empty */
  CHECK(grt_chan_send(c, &x) == 0 && grt_chan_recv(c, &x) == 1 && x == 1);
  grt_chan_free(c);

  /* grt_go(NULL). */
  stderr_capture_begin();
  int r = grt_go(NULL, 0);
  int lines = stderr_capture_end();
  CHECK(r == -EINVAL);
  CHECK(lines == 1 && strstr(stderr_captured, "grt_go"));
  grt_go_opts o = {.stack_size = 0, .name = NULL};
  CHECK(grt_go_with(&o, NULL, NULL) == -EINVAL);

  /* Unlocking an unlocked mutex: one line, no crash, mutex still works. */
  grt_mutex mu = GRT_MUTEX_INIT;
  stderr_capture_begin();
  grt_mutex_unlock(&mu);
  lines = stderr_capture_end();
  CHECK(lines == 1 && strstr(stderr_captured, "grt_mutex_unlock"));
  CHECK(grt_mutex_trylock(&mu) == 1);
  CHECK(grt_mutex_trylock(&mu) == 0);
  grt_mutex_unlock(&mu);
  grt_mutex_lock(&mu);
  grt_mutex_unlock(&mu);
  CHECK(grt_mutex_trylock(&mu) == 1);
  grt_mutex_unlock(&mu);

  /* A wait group driven negative: one line, left at 0 and usable. */
  stderr_capture_begin();
  grt_wg_add(&wg, -1);
  lines = stderr_capture_end();
  CHECK(lines == 1 && strstr(stderr_captured, "grt_wg_add"));
  grt_wg_wait(&wg); /* zero: returns at once */
  grt_wg_add(&wg, 2);
  CHECK(grt_go(finisher, NULL) == 0 && grt_go(finisher, NULL) == 0);
  grt_wg_wait(&wg);
  grt_wg_wait(&wg);

  /* grt_wg_done below zero names grt_wg_done. */
  stderr_capture_begin();
  grt_wg_done(&wg);
  lines = stderr_capture_end();
  CHECK(lines == 1 && strstr(stderr_captured, "grt_wg_done"));

  /* Sending on a closed channel and closing it twice (Go panics): -EPIPE
   * with one line each, naming the call. */
  grt_chan *closed = grt_chan_make(sizeof(int), 1);
  CHECK(closed && grt_chan_close(closed) == 0);
  stderr_capture_begin();
  CHECK(grt_chan_send(closed, &x) == -EPIPE);
  lines = stderr_capture_end();
  CHECK(lines == 1 && strstr(stderr_captured, "grt_chan_send"));
  stderr_capture_begin();
  CHECK(grt_chan_close(closed) == -EPIPE);
  lines = stderr_capture_end();
  CHECK(lines == 1 && strstr(stderr_captured, "grt_chan_close"));
  grt_chan_free(closed);

  /* A goroutine still starts fine after all that. */
  grt_wg_add(&wg, 1);
  CHECK(grt_go(finisher, NULL) == 0);
  grt_wg_wait(&wg);
  return 0;
}

/* ---- GRT_MAXPROCS children ---- */

static int print_procs(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("%d\n", grt_maxprocs());
  return 0;
}

static void check_maxprocs(void) {
  static const struct {
    const char *value;
    int bad;
  } cases[] = {{"abc", 1}, {"0", 1}, {"-3", 1}, {"99999", 1}, {"", 0}, {"1", 0}};
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[4096], err[4096];
    char var[64];
    snprintf(var, sizeof var, "GRT_MAXPROCS=%s", cases[i].value);
    const char *args[] = {"maxprocs", NULL}, *env[] = {var, NULL};
    int status = run_self(args, env, out, err, sizeof out);
    printf("GRT_MAXPROCS=\"%s\": status %#x, stdout: %s  stderr: %s\n", cases[i].value, status, out,
           err[0] ? err : "(empty)\n");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int procs = -1;
    CHECK(sscanf(out, "%d", &procs) == 1);
    long want = strcmp(cases[i].value, "1") == 0 ? 1 : online;
    CHECK(procs == want);
    CHECK((strstr(err, "GRT_MAXPROCS") != NULL) == cases[i].bad);
  }
}

static int run_all(int argc, char **argv) {
  int r = run(argc, argv);
  if (r == 0) check_maxprocs();
  if (r == 0) printf("misuse: ok\n");
  return r;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "maxprocs") == 0) return grt_main(print_procs, argc, argv);

  /* Before grt_main: outside the runtime. */
  int x = 5;
  CHECK(grt_go(nop, NULL) == -EPERM);
  grt_chan *c = grt_chan_make(sizeof(int), 1); /* allowed on any thread */
  CHECK(c);
  CHECK(grt_chan_send(c, &x) == -EPERM);
  CHECK(grt_chan_len(c) == 0);
  CHECK(grt_chan_recv(c, &x) == -EPERM);
  CHECK(grt_id() == 0);
  grt_yield(); /* sched_yield(2) */
  grt_select_case cs = {.chan = c, .dir = GRT_RECV, .elem = &x};
  CHECK(grt_select(&cs, 1, 0) == -EPERM);
  CHECK(grt_select(&cs, 1, 1) == -EPERM);
  CHECK(grt_chan_close(c) == 0); /* allowed on any thread */
  grt_chan_free(c);
  return grt_main(run_all, argc, argv);
}
