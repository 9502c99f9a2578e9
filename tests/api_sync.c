/*
 * api_sync: grt_mutex, grt_wg and grt_id.  8 goroutines on 2 Ps each add
 * 10^5 to a plain (non-atomic) counter under a grt_mutex, half of them
 * yielding in the middle of the read-modify-write while holding the lock:
 * the final count must be exact.  grt_mutex_trylock succeeds only on an
 * unlocked mutex; grt_wg_wait returns only after every grt_wg_done; the
 * main goroutine's id is 1 and children have distinct nonzero ids.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

/* ASan: scaled down from 10^5 per goroutine to stay quick. */
#define OPS ASAN_SCALED(100000, 20000)
#define WORKERS 8
#define WAITERS 20
#define IDS 100

static grt_mutex mu = GRT_MUTEX_INIT;
static long counter; /* plain: only the mutex protects it */
static grt_wg wg;

static void adder(void *arg) {
  int yielder = (int)(intptr_t)arg & 1;
  for (int i = 0; i < OPS; i++) {
    grt_mutex_lock(&mu);
    long v = counter;
    if (yielder && i % 64 == 0) grt_yield(); /* others run while we hold mu */
    counter = v + 1;
    grt_mutex_unlock(&mu);
  }
  grt_wg_done(&wg);
}

static atomic_int trylock_result = -1;

static void try_other(void *arg) {
  (void)arg;
  atomic_store(&trylock_result, grt_mutex_trylock(&mu));
  grt_wg_done(&wg);
}

static atomic_int finished;

static void sleeper(void *arg) {
  int i = (int)(intptr_t)arg;
  grt_sleep((int64_t)(1 + i % 10) * 1000000); /* 1..10 ms */
  atomic_fetch_add(&finished, 1);
  grt_wg_done(&wg);
}

static uint64_t ids[IDS];
static grt_chan *idch;

static void send_id(void *arg) {
  (void)arg;
  uint64_t id = grt_id();
  CHECK(grt_chan_send(idch, &id) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 2);
  CHECK(grt_id() == 1);

  /* Mutex: exact count under contention. */
  grt_wg_add(&wg, WORKERS);
  for (int i = 0; i < WORKERS; i++)
    CHECK(grt_go(adder, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&wg);
  printf("counter %ld (want %ld)\n", counter, (long)WORKERS * OPS);
  CHECK(counter == (long)WORKERS * OPS);

  /* trylock: succeeds when unlocked, fails when held (by us or seen from
   * another goroutine), succeeds again after unlock. */
  CHECK(grt_mutex_trylock(&mu) == 1);
  CHECK(grt_mutex_trylock(&mu) == 0);
  grt_wg_add(&wg, 1);
  CHECK(grt_go(try_other, NULL) == 0);
  grt_wg_wait(&wg);
  CHECK(atomic_load(&trylock_result) == 0);
  grt_mutex_unlock(&mu);
  CHECK(grt_mutex_trylock(&mu) == 1);
  grt_mutex_unlock(&mu);
  grt_mutex_lock(&mu);
  CHECK(grt_mutex_trylock(&mu) == 0);
  grt_mutex_unlock(&mu);

  /* wg_wait returns only after every done. */
  grt_wg_add(&wg, WAITERS);
  for (int i = 0; i < WAITERS; i++)
    CHECK(grt_go(sleeper, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&wg);
  CHECK(atomic_load(&finished) == WAITERS);
  grt_wg_wait(&wg); /* zero: returns at once */

  /* grt_id: children have distinct nonzero ids, none equal to main's 1. */
  idch = grt_chan_make(sizeof(uint64_t), 0);
  CHECK(idch);
  for (int i = 0; i < IDS; i++)
    CHECK(grt_go(send_id, NULL) == 0);
  for (int i = 0; i < IDS; i++) {
    CHECK(grt_chan_recv(idch, &ids[i]) == 1);
    CHECK(ids[i] != 0 && ids[i] != 1);
    for (int j = 0; j < i; j++)
      CHECK(ids[i] != ids[j]);
  }
  CHECK(grt_id() == 1);
  grt_chan_free(idch);
  printf("api_sync: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
