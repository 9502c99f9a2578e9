/*
 * sync_rwmutex: grt_rwmutex, Go's sync/rwmutex_test.go ported, at 1 and 2
 * Ps (re-executed children).
 *   TestParallelReaders: n readers hold the read lock at the same time.
 *   TestRWMutex (HammerRWMutex): 2 writers and 1, 3 or 10 readers; an
 *     activity counter (+1 per reader, +10000 per writer) proves a writer
 *     is alone and readers never overlap a writer.  Holders yield inside
 *     the critical section, so 1 P interleaves too.
 *   TestRLocker: read-locked twice, a writer waits until both read locks
 *     go; read lockers wait for the writer.
 *   Writer preference: with a reader in and a writer parked, tryrlock
 *     fails and a new reader waits until that writer has had the lock.
 *   Outside a goroutine: a plain thread's rlock and lock exclude as well.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synctest.h"

#define ITERS ASAN_SCALED(1000, 300)

/* ---- TestParallelReaders ---- */

struct pr {
  grt_rwmutex *m;
  grt_chan *clocked, *cunlock, *cdone;
};

static void parallel_reader(void *arg) {
  struct pr *p = arg;
  grt_rwmutex_rlock(p->m);
  send_int(p->clocked, 1);
  recv_int(p->cunlock);
  grt_rwmutex_runlock(p->m);
  send_int(p->cdone, 1);
}

static void do_parallel_readers(int n) {
  grt_rwmutex m = GRT_RWMUTEX_INIT;
  struct pr p = {&m, mkchan(0), mkchan(0), mkchan(0)};
  for (int i = 0; i < n; i++)
    CHECK(grt_go(parallel_reader, &p) == 0);
  for (int i = 0; i < n; i++) /* every rlock succeeded together */
    recv_int(p.clocked);
  for (int i = 0; i < n; i++)
    send_int(p.cunlock, 1);
  for (int i = 0; i < n; i++)
    recv_int(p.cdone);
  grt_chan_free(p.clocked);
  grt_chan_free(p.cunlock);
  grt_chan_free(p.cdone);
}

/* ---- TestRWMutex (HammerRWMutex) ---- */

static grt_rwmutex hm;
static atomic_int activity;
static grt_wg hwg;

static void hammer_reader(void *arg) {
  int iters = (int)(intptr_t)arg;
  for (int i = 0; i < iters; i++) {
    grt_rwmutex_rlock(&hm);
    int n = atomic_fetch_add(&activity, 1) + 1;
    CHECK(n >= 1 && n < 10000); /* wlock(%d) */
    if (i % 3 == 0) grt_yield();
    atomic_fetch_sub(&activity, 1);
    grt_rwmutex_runlock(&hm);
  }
  grt_wg_done(&hwg);
}

static void hammer_writer(void *arg) {
  int iters = (int)(intptr_t)arg;
  for (int i = 0; i < iters; i++) {
    grt_rwmutex_lock(&hm);
    int n = atomic_fetch_add(&activity, 10000) + 10000;
    CHECK(n == 10000); /* wlock(%d) */
    if (i % 3 == 0) grt_yield();
    atomic_fetch_sub(&activity, 10000);
    grt_rwmutex_unlock(&hm);
  }
  grt_wg_done(&hwg);
}

static void hammer(int readers, int iters) {
  grt_wg_add(&hwg, 2 + readers);
  void *a = (void *)(intptr_t)iters;
  CHECK(grt_go(hammer_writer, a) == 0);
  int i = 0;
  for (; i < readers / 2; i++)
    CHECK(grt_go(hammer_reader, a) == 0);
  CHECK(grt_go(hammer_writer, a) == 0);
  for (; i < readers; i++)
    CHECK(grt_go(hammer_reader, a) == 0);
  grt_wg_wait(&hwg);
  CHECK(atomic_load(&activity) == 0);
}

/* ---- TestRLocker ---- */

static grt_rwmutex wl;
static grt_chan *wlocked, *rlocked;
#define RLOCKER_N 10

static void rlocker_g(void *arg) {
  (void)arg;
  for (int i = 0; i < RLOCKER_N; i++) {
    grt_rwmutex_rlock(&wl);
    grt_rwmutex_rlock(&wl);
    send_int(rlocked, 1);
    grt_rwmutex_lock(&wl);
    send_int(wlocked, 1);
  }
}

static void rlocker(void) {
  wlocked = mkchan(0);
  rlocked = mkchan(0);
  CHECK(grt_go(rlocker_g, NULL) == 0);
  int v;
  for (int i = 0; i < RLOCKER_N; i++) {
    recv_int(rlocked);
    grt_rwmutex_runlock(&wl);
    grt_yield();
    CHECK(!tryrecv(wlocked, &v)); /* "RLocker() didn't read-lock it" */
    grt_rwmutex_runlock(&wl);
    recv_int(wlocked);
    grt_yield();
    CHECK(!tryrecv(rlocked, &v)); /* "RLocker() didn't respect the write lock" */
    grt_rwmutex_unlock(&wl);
  }
}

/* ---- writer preference ---- */

static grt_rwmutex pm = GRT_RWMUTEX_INIT;
static atomic_int order_pos;
static int writer_at = -1, reader_at = -1;
static grt_wg pwg;

static void pref_writer(void *arg) {
  (void)arg;
  grt_rwmutex_lock(&pm);
  writer_at = atomic_fetch_add(&order_pos, 1);
  grt_sleep(2000000);
  grt_rwmutex_unlock(&pm);
  grt_wg_done(&pwg);
}

static void pref_reader(void *arg) {
  (void)arg;
  grt_rwmutex_rlock(&pm);
  reader_at = atomic_fetch_add(&order_pos, 1);
  grt_rwmutex_runlock(&pm);
  grt_wg_done(&pwg);
}

static int parked_writers(void) {
  return __atomic_load_n(&pm.wwaiting, __ATOMIC_ACQUIRE);
}

static void writer_preference(void) {
  grt_rwmutex_rlock(&pm); /* a reader holds it */
  grt_wg_add(&pwg, 2);
  CHECK(grt_go(pref_writer, NULL) == 0);
  while (parked_writers() == 0)
    grt_sleep(100000);
  CHECK(grt_rwmutex_tryrlock(&pm) == 0); /* a waiting writer blocks new readers */
  CHECK(grt_rwmutex_trylock(&pm) == 0);
  CHECK(grt_go(pref_reader, NULL) == 0);
  grt_sleep(5000000);
  CHECK(reader_at == -1 && writer_at == -1);
  grt_rwmutex_runlock(&pm);
  grt_wg_wait(&pwg);
  printf("writer got it %d-th, the later reader %d-th\n", writer_at, reader_at);
  CHECK(writer_at == 0 && reader_at == 1);
  CHECK(grt_rwmutex_trylock(&pm) == 1);
  grt_rwmutex_unlock(&pm);
}

/* ---- outside a goroutine ---- */

static grt_rwmutex fm = GRT_RWMUTEX_INIT;
static atomic_int fstate; /* 1: the thread read it, 2: holds it for writing, 3: unlocking */

static void *foreign(void *arg) {
  (void)arg;
  grt_rwmutex_rlock(&fm); /* waits for main's write lock */
  atomic_store(&fstate, 1);
  grt_rwmutex_runlock(&fm);
  grt_rwmutex_lock(&fm);
  atomic_store(&fstate, 2);
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, NULL);
  atomic_store(&fstate, 3); /* before the unlock: main's rlock must see it */
  grt_rwmutex_unlock(&fm);
  return NULL;
}

static void outside(void) {
  grt_rwmutex_lock(&fm);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign, NULL) == 0);
  grt_sleep(5000000);
  CHECK(atomic_load(&fstate) == 0);
  grt_rwmutex_unlock(&fm);
  while (atomic_load(&fstate) < 2)
    grt_sleep(100000);
  grt_rwmutex_rlock(&fm); /* parks until the thread's unlock */
  CHECK(atomic_load(&fstate) == 3);
  grt_rwmutex_runlock(&fm);
  CHECK(join_thread(t) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  CHECK(grt_maxprocs() == atoi(argv[2]));
  do_parallel_readers(1);
  do_parallel_readers(3);
  do_parallel_readers(4);
  do_parallel_readers(2 * grt_maxprocs());
  printf("TestParallelReaders ok\n");
  hammer(1, ITERS);
  hammer(3, ITERS);
  hammer(10, ITERS);
  printf("TestRWMutex ok\n");
  rlocker();
  printf("TestRLocker ok\n");
  writer_preference();
  printf("writer preference ok\n");
  outside();
  printf("outside a goroutine ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return sync_main("sync_rwmutex", run, argc, argv);
}
