/*
 * sync_sem: grt_sem and grt_mutex_lock_timeout, at 1 and 2 Ps
 * (re-executed children).
 *   Semaphore: at most 3 of 20 goroutines hold a unit at once (and 3 do
 *     get in together); tryacquire takes units only when there are enough
 *     and nobody waits; waiters are FIFO: one waiting for 5 units holds
 *     back a later one waiting for 1, even with 2 units there; 3 more let
 *     the big one in (not the small one: 0 left), 1 more the small one.
 *   Timed lock: times out (-ETIMEDOUT, not before the timeout) on a held
 *     mutex, gets it when it is unlocked in time, ns <= 0 only tries, a
 *     saturating ns (INT64_MAX) is a plain lock; a storm of short timed
 *     locks against holders keeps an exact count (a timed-out waiter never
 *     got the mutex, one handed the mutex never also timed out) and the
 *     mutex ends unlocked.
 *   Outside a goroutine: a plain thread's acquire waits for a goroutine's
 *     release; its timed lock times out, then succeeds.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synctest.h"

#define MS 1000000LL

/* ---- semaphore: a limit on concurrency ---- */

static grt_sem limit = GRT_SEM_INIT(3);
static atomic_int inside, most;
static grt_wg wg;

static void limited(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++) {
    CHECK(grt_sem_acquire(&limit, 1) == 0);
    int n = atomic_fetch_add(&inside, 1) + 1;
    CHECK(n <= 3);
    int m = atomic_load(&most);
    while (n > m && !atomic_compare_exchange_weak(&most, &m, n))
      ;
    grt_sleep(100000);
    atomic_fetch_sub(&inside, 1);
    CHECK(grt_sem_release(&limit, 1) == 0);
  }
  grt_wg_done(&wg);
}

static grt_sem fifo;
static atomic_int got_order, big_at = -1, small_at = -1;

static void want(void *arg) {
  int n = (int)(intptr_t)arg;
  CHECK(grt_sem_acquire(&fifo, n) == 0);
  atomic_store(n == 5 ? &big_at : &small_at, atomic_fetch_add(&got_order, 1));
  grt_wg_done(&wg);
}

static void semaphore(void) {
  grt_wg_add(&wg, 20);
  for (int i = 0; i < 20; i++)
    CHECK(grt_go(limited, NULL) == 0);
  grt_wg_wait(&wg);
  printf("at most %d inside\n", atomic_load(&most));
  CHECK(atomic_load(&most) == 3);
  CHECK(grt_sem_tryacquire(&limit, 3) == 1);
  CHECK(grt_sem_tryacquire(&limit, 1) == 0);
  CHECK(grt_sem_release(&limit, 3) == 0);
  CHECK(grt_sem_acquire(&limit, 0) == 0);

  CHECK(grt_sem_init(&fifo, 2) == 0);
  grt_wg_add(&wg, 2);
  CHECK(grt_go(want, (void *)(intptr_t)5) == 0);
  while (!__atomic_load_n(&fifo.head, __ATOMIC_ACQUIRE))
    grt_sleep(100000); /* the big one waits */
  CHECK(grt_go(want, (void *)(intptr_t)1) == 0);
  grt_sleep(5 * MS);
  CHECK(atomic_load(&got_order) == 0);      /* 2 units there, but FIFO */
  CHECK(grt_sem_tryacquire(&fifo, 1) == 0); /* nor for a try */
  CHECK(grt_sem_release(&fifo, 3) == 0);    /* 5: the big one only */
  while (atomic_load(&big_at) < 0)
    grt_sleep(100000);
  grt_sleep(5 * MS);
  CHECK(atomic_load(&small_at) == -1); /* 0 units left */
  CHECK(grt_sem_release(&fifo, 1) == 0);
  grt_wg_wait(&wg);
  CHECK(big_at == 0 && small_at == 1);
  CHECK(fifo.count == 0);
}

/* ---- grt_mutex_lock_timeout ---- */

static grt_mutex mu = GRT_MUTEX_INIT;
static atomic_int result = 1;

static void timed(void *arg) {
  int64_t ns = (int64_t)(intptr_t)arg;
  int64_t t0 = grt_nanotime();
  int r = grt_mutex_lock_timeout(&mu, ns);
  int64_t took = grt_nanotime() - t0;
  if (r == -ETIMEDOUT) CHECK(took >= ns);
  if (r == 0) grt_mutex_unlock(&mu);
  atomic_store(&result, r);
  grt_wg_done(&wg);
}

static long counter; /* only mu protects it */
static atomic_long timeouts;

static void storm(void *arg) {
  int holder = (int)(intptr_t)arg & 1;
  for (int i = 0; i < ASAN_SCALED(2000, 500); i++) {
    if (holder) {
      grt_mutex_lock(&mu);
      long v = counter;
      if (i % 4 == 0) grt_sleep(20000);
      counter = v + 1;
      grt_mutex_unlock(&mu);
      continue;
    }
    int r = grt_mutex_lock_timeout(&mu, 1000 + (i % 7) * 10000);
    if (r == -ETIMEDOUT) {
      atomic_fetch_add(&timeouts, 1);
      continue;
    }
    CHECK(r == 0);
    long v = counter;
    if (i % 8 == 0) grt_yield();
    counter = v + 1;
    grt_mutex_unlock(&mu);
  }
  grt_wg_done(&wg);
}

static void timed_lock(void) {
  grt_mutex_lock(&mu);
  CHECK(grt_mutex_lock_timeout(&mu, 0) == -ETIMEDOUT);
  CHECK(grt_mutex_lock_timeout(&mu, -5) == -ETIMEDOUT);
  grt_wg_add(&wg, 1);
  CHECK(grt_go(timed, (void *)(intptr_t)(10 * MS)) == 0);
  grt_wg_wait(&wg);
  CHECK(atomic_load(&result) == -ETIMEDOUT);
  grt_wg_add(&wg, 1);
  CHECK(grt_go(timed, (void *)(intptr_t)(2000 * MS)) == 0);
  grt_sleep(5 * MS);
  grt_mutex_unlock(&mu); /* in time: handed over */
  grt_wg_wait(&wg);
  CHECK(atomic_load(&result) == 0);
  CHECK(grt_mutex_lock_timeout(&mu, 0) == 0);
  grt_mutex_unlock(&mu);
  CHECK(grt_mutex_lock_timeout(&mu, INT64_MAX) == 0); /* saturates: never times out */
  grt_wg_add(&wg, 1);
  CHECK(grt_go(timed, (void *)(intptr_t)INT64_MAX) == 0); /* parks: now + ns overflows */
  grt_sleep(5 * MS);
  grt_mutex_unlock(&mu);
  grt_wg_wait(&wg);
  CHECK(atomic_load(&result) == 0);

  int n = 8;
  grt_wg_add(&wg, n);
  for (int i = 0; i < n; i++)
    CHECK(grt_go(storm, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&wg);
  long want = (long)n * ASAN_SCALED(2000, 500) - atomic_load(&timeouts);
  printf("counter %ld (want %ld), %ld timeouts\n", counter, want, atomic_load(&timeouts));
  CHECK(counter == want);
  CHECK(grt_mutex_trylock(&mu) == 1); /* left unlocked */
  grt_mutex_unlock(&mu);
}

/* ---- outside a goroutine ---- */

static grt_sem fsem;
static atomic_int fstep;

static void *foreign(void *arg) {
  (void)arg;
  CHECK(grt_sem_acquire(&fsem, 2) == 0); /* waits for main's release */
  atomic_store(&fstep, 1);
  int64_t t0 = grt_nanotime();
  CHECK(grt_mutex_lock_timeout(&mu, 3 * MS) == -ETIMEDOUT); /* main holds it */
  CHECK(grt_nanotime() - t0 >= 3 * MS);
  atomic_store(&fstep, 2);
  CHECK(grt_mutex_lock_timeout(&mu, 5000 * MS) == 0); /* main unlocks */
  grt_mutex_unlock(&mu);
  return NULL;
}

static void outside(void) {
  grt_mutex_lock(&mu);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign, NULL) == 0);
  grt_sleep(3 * MS);
  CHECK(atomic_load(&fstep) == 0);
  CHECK(grt_sem_release(&fsem, 2) == 0);
  while (atomic_load(&fstep) < 2)
    grt_sleep(100000);
  grt_sleep(MS);
  grt_mutex_unlock(&mu);
  CHECK(join_thread(t) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  CHECK(grt_maxprocs() == atoi(argv[2]));
  semaphore();
  printf("semaphore ok\n");
  timed_lock();
  printf("timed lock ok\n");
  outside();
  printf("outside a goroutine ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return sync_main("sync_sem", run, argc, argv);
}
