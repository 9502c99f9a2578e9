/*
 * lock_thread: grt_lock_thread wires a goroutine to its OS thread.  On 2 Ps
 * with 3 busy goroutines yielding in a loop, a wired goroutine sleeps,
 * yields and blocks on a channel 1000 times and always runs on the same
 * thread (gettid), and no other goroutine runs on that thread meanwhile.
 * After grt_unlock_thread it keeps working.  Nested lock/lock/unlock keeps
 * it wired until the final unlock.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testutil.h"

#define ROUNDS 1000
#define BUSY 3

static long tid(void) {
  return syscall(SYS_gettid);
}

static atomic_int stop;
static atomic_long wired_tid; /* the wired goroutine's thread while it is wired; 0 otherwise */
static atomic_long intruders; /* other goroutines seen running on that thread */
static grt_wg wg;
static grt_chan *feed;

static void busy(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    long w = atomic_load(&wired_tid);
    if (w && w == tid()) atomic_fetch_add(&intruders, 1);
    grt_yield();
  }
  grt_wg_done(&wg);
}

static void feeder(void *arg) {
  (void)arg;
  int v = 0;
  while (grt_chan_send(feed, &v) == 0)
    v++;
  grt_wg_done(&wg);
}

static long moved;
static grt_wg wired_wg;

/* Sleeps, yields or receives, by turn; counts rounds that came back on a
 * thread other than want (if want != 0). */
static void work(int rounds, long want) {
  for (int i = 0; i < rounds; i++) {
    switch (i % 3) {
    case 0:
      grt_sleep(100000); /* 100 us */
      break;
    case 1:
      grt_yield();
      break;
    case 2: {
      int v;
      CHECK(grt_chan_recv(feed, &v) == 1);
      break;
    }
    }
    if (want && tid() != want) moved++;
  }
}

static void wired(void *arg) {
  (void)arg;
  grt_lock_thread();
  long t = tid();
  atomic_store(&wired_tid, t);
  work(ROUNDS, t);
  printf("wired: %ld of %d rounds ran on another thread\n", moved, ROUNDS);
  CHECK(moved == 0);
  atomic_store(&wired_tid, 0);
  grt_unlock_thread();

  /* Unwired: keeps working (the thread may change). */
  work(300, 0);

  /* Nested: wired until the last unlock. */
  grt_lock_thread();
  grt_lock_thread();
  t = tid();
  atomic_store(&wired_tid, t);
  work(150, t);
  grt_unlock_thread();
  work(150, t); /* still wired: one lock left */
  printf("nested: %ld rounds ran on another thread\n", moved);
  CHECK(moved == 0);
  atomic_store(&wired_tid, 0);
  grt_unlock_thread();
  work(300, 0);
  grt_wg_done(&wired_wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 2);
  feed = grt_chan_make(sizeof(int), 0);
  CHECK(feed);
  grt_wg_add(&wg, BUSY + 1);
  for (int i = 0; i < BUSY; i++)
    CHECK(grt_go(busy, NULL) == 0);
  CHECK(grt_go(feeder, NULL) == 0);
  grt_wg_add(&wired_wg, 1);
  CHECK(grt_go(wired, NULL) == 0);
  grt_wg_wait(&wired_wg);
  atomic_store(&stop, 1);
  CHECK(grt_chan_close(feed) == 0); /* ends the feeder */
  grt_wg_wait(&wg);
  printf("intruders on the wired thread: %ld\n", atomic_load(&intruders));
  CHECK(atomic_load(&intruders) == 0);
  grt_chan_free(feed);
  printf("lock_thread: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
