/*
 * sync_once: grt_once_do, Go's sync/once_test.go ported, at 1 and 2 Ps
 * (re-executed children).
 *   TestOnce: 10 goroutines call grt_once_do with an increment; it runs
 *     once, and each caller sees 1 as soon as its call returns.  Here fn
 *     also sleeps, so the others must wait for it (not merely skip it).
 *   TestOncePanic: not ported.  C has no panic: there is no way for fn to
 *     fail out of grt_once_do that the Once could observe (a longjmp out of
 *     fn is undefined, as for any grt call).
 *   Outside a goroutine: plain threads and goroutines race on one Once;
 *     fn runs once and every caller returns after it finished.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synctest.h"

#define N 10

static atomic_int o;
static grt_once once = GRT_ONCE_INIT;
static grt_chan *c;

static void increment(void *arg) {
  (void)arg;
  grt_sleep(2000000); /* the others arrive meanwhile and must wait */
  atomic_fetch_add(&o, 1);
}

static void runner(void *arg) {
  (void)arg;
  CHECK(grt_once_do(&once, increment, NULL) == 0);
  int v = atomic_load(&o);
  if (v != 1) fprintf(stderr, "once failed inside run: %d is not 1\n", v);
  CHECK(v == 1);
  send_int(c, 1);
}

/* ---- outside a goroutine ---- */

static grt_once fonce = GRT_ONCE_INIT;
static atomic_int fcount;
static grt_wg fwg;

static void slow_increment(void *arg) {
  (void)arg;
  struct timespec ts = {0, 3000000}; /* a thread or a goroutine: both fine */
  nanosleep(&ts, NULL);
  atomic_fetch_add(&fcount, 1);
}

static void *fthread(void *arg) {
  (void)arg;
  CHECK(grt_once_do(&fonce, slow_increment, NULL) == 0);
  CHECK(atomic_load(&fcount) == 1);
  return NULL;
}

static void fgoroutine(void *arg) {
  fthread(arg);
  grt_wg_done(&fwg);
}

static int run(int argc, char **argv) {
  (void)argc;
  CHECK(grt_maxprocs() == atoi(argv[2]));
  c = mkchan(0);
  for (int i = 0; i < N; i++)
    CHECK(grt_go(runner, NULL) == 0);
  for (int i = 0; i < N; i++)
    recv_int(c);
  CHECK(atomic_load(&o) == 1); /* "once failed outside run" */
  CHECK(grt_once_do(&once, increment, NULL) == 0);
  CHECK(atomic_load(&o) == 1);
  grt_chan_free(c);
  printf("TestOnce ok\n");

  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    CHECK(pthread_create(&t[i], NULL, fthread, NULL) == 0);
  grt_wg_add(&fwg, 4);
  for (int i = 0; i < 4; i++)
    CHECK(grt_go(fgoroutine, NULL) == 0);
  grt_wg_wait(&fwg);
  for (int i = 0; i < 4; i++)
    CHECK(join_thread(t[i]) == 0);
  CHECK(atomic_load(&fcount) == 1);
  printf("outside a goroutine ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return sync_main("sync_once", run, argc, argv);
}
