/*
 * sync_cond: grt_cond, Go's sync/cond_test.go ported, at 1 and 2 Ps
 * (re-executed children).
 *   TestCondSignal: each signal wakes exactly one of the waiters.
 *   TestCondSignalGenerations: 100 waiters wake in the order they waited.
 *   TestCondBroadcast: 200 waiters, 200 rounds; each broadcast wakes
 *     every waiter exactly once and nobody wakes without one.
 *   TestRace: three goroutines hand a value around with wait and signal.
 *   TestCondSignalStealing (x1000): a waiter that started waiting after a
 *     broadcast began may or may not be woken, but the earlier one must be.
 *   Outside a goroutine: a plain thread waits (spinning) and is signalled
 *     by a goroutine.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synctest.h"

/* ---- TestCondSignal / TestCondSignalGenerations ---- */

static grt_mutex m;
static grt_cond c;
static grt_chan *running, *awake;

static void signal_waiter(void *arg) {
  grt_mutex_lock(&m);
  send_int(running, 1);
  grt_cond_wait(&c, &m);
  send_int(awake, (int)(intptr_t)arg);
  grt_mutex_unlock(&m);
}

static void cond_signal(void) {
  int n = 2, v;
  running = mkchan(n);
  awake = mkchan(n);
  for (int i = 0; i < n; i++)
    CHECK(grt_go(signal_waiter, NULL) == 0);
  for (int i = 0; i < n; i++)
    recv_int(running); /* wait for everyone to run */
  for (; n > 0; n--) {
    grt_yield();
    CHECK(!tryrecv(awake, &v)); /* "goroutine not asleep" */
    grt_mutex_lock(&m);
    grt_cond_signal(&c);
    grt_mutex_unlock(&m);
    recv_int(awake); /* deadlocks if no goroutine wakes up */
    grt_yield();
    grt_sleep(1000000);
    CHECK(!tryrecv(awake, &v)); /* "too many goroutines awake" */
  }
  grt_cond_signal(&c);
  grt_chan_free(running);
  grt_chan_free(awake);
}

static void cond_signal_generations(void) {
  int n = 100;
  running = mkchan(n);
  awake = mkchan(n);
  for (int i = 0; i < n; i++) {
    CHECK(grt_go(signal_waiter, (void *)(intptr_t)i) == 0);
    recv_int(running);
  }
  for (int i = 0; i < n; i++) {
    grt_mutex_lock(&m);
    grt_cond_signal(&c);
    grt_mutex_unlock(&m);
    int a = recv_int(awake);
    if (a != i) fprintf(stderr, "expected goroutine %d, got %d\n", i, a);
    CHECK(a == i);
  }
  grt_chan_free(running);
  grt_chan_free(awake);
}

/* ---- TestCondBroadcast ---- */

#define BN 200
static bool bexit;
static grt_wg bwg;

static void broadcast_waiter(void *arg) {
  int g = (int)(intptr_t)arg;
  grt_mutex_lock(&m);
  while (!bexit) {
    send_int(running, g);
    grt_cond_wait(&c, &m);
    send_int(awake, g);
  }
  grt_mutex_unlock(&m);
  grt_wg_done(&bwg);
}

static void cond_broadcast(void) {
  int v;
  running = mkchan(BN);
  awake = mkchan(BN);
  grt_wg_add(&bwg, BN);
  for (int i = 0; i < BN; i++)
    CHECK(grt_go(broadcast_waiter, (void *)(intptr_t)i) == 0);
  for (int i = 0; i < BN; i++) {
    for (int j = 0; j < BN; j++)
      recv_int(running); /* will deadlock unless n are running */
    if (i == BN - 1) {
      grt_mutex_lock(&m);
      bexit = true;
      grt_mutex_unlock(&m);
    }
    CHECK(!tryrecv(awake, &v)); /* "goroutine not asleep" */
    grt_mutex_lock(&m);
    grt_cond_broadcast(&c);
    grt_mutex_unlock(&m);
    bool seen[BN] = {false};
    for (int j = 0; j < BN; j++) {
      int g = recv_int(awake);
      CHECK(!seen[g]); /* "goroutine woke up twice" */
      seen[g] = true;
    }
  }
  grt_wg_wait(&bwg);
  CHECK(!tryrecv(running, &v)); /* "goroutine did not exit" */
  grt_cond_broadcast(&c);
  grt_chan_free(running);
  grt_chan_free(awake);
}

/* ---- TestRace ---- */

static int x;
static grt_chan *done;

static void race1(void *arg) {
  (void)arg;
  grt_mutex_lock(&m);
  x = 1;
  grt_cond_wait(&c, &m);
  CHECK(x == 2); /* "want 2" */
  x = 3;
  grt_cond_signal(&c);
  grt_mutex_unlock(&m);
  send_int(done, 1);
}

static void race2(void *arg) {
  (void)arg;
  grt_mutex_lock(&m);
  for (;;) {
    if (x == 1) {
      x = 2;
      grt_cond_signal(&c);
      break;
    }
    grt_mutex_unlock(&m);
    grt_yield();
    grt_mutex_lock(&m);
  }
  grt_mutex_unlock(&m);
  send_int(done, 1);
}

static void race3(void *arg) {
  (void)arg;
  grt_mutex_lock(&m);
  for (;;) {
    if (x == 2) {
      grt_cond_wait(&c, &m);
      CHECK(x == 3); /* "want 3" */
      break;
    }
    if (x == 3) break;
    grt_mutex_unlock(&m);
    grt_yield();
    grt_mutex_lock(&m);
  }
  grt_mutex_unlock(&m);
  send_int(done, 1);
}

static void cond_race(void) {
  done = mkchan(0);
  for (int round = 0; round < 100; round++) {
    x = 0;
    CHECK(grt_go(race1, NULL) == 0);
    CHECK(grt_go(race2, NULL) == 0);
    CHECK(grt_go(race3, NULL) == 0);
    recv_int(done);
    recv_int(done);
    recv_int(done);
  }
  grt_chan_free(done);
}

/* ---- TestCondSignalStealing ---- */

struct steal {
  grt_mutex m;
  grt_cond cond;
  grt_chan *ch;
  bool done;
  grt_wg wg;
};

static void steal_first(void *arg) {
  struct steal *s = arg;
  grt_mutex_lock(&s->m);
  send_int(s->ch, 1);
  grt_cond_wait(&s->cond, &s->m);
  grt_mutex_unlock(&s->m);
  send_int(s->ch, 2);
  grt_wg_done(&s->wg);
}

static void steal_broadcast(void *arg) {
  struct steal *s = arg;
  grt_cond_broadcast(&s->cond);
  grt_wg_done(&s->wg);
}

static void steal_second(void *arg) {
  struct steal *s = arg;
  grt_mutex_lock(&s->m);
  while (!s->done)
    grt_cond_wait(&s->cond, &s->m);
  grt_mutex_unlock(&s->m);
  grt_wg_done(&s->wg);
}

static void cond_signal_stealing(void) {
  for (int iters = 0; iters < ASAN_SCALED(1000, 300); iters++) {
    struct steal s = {.m = GRT_MUTEX_INIT, .cond = GRT_COND_INIT, .ch = mkchan(0)};
    grt_wg_add(&s.wg, 3);
    CHECK(grt_go(steal_first, &s) == 0); /* start a waiter */
    recv_int(s.ch);
    grt_mutex_lock(&s.m); /* the waiter is in grt_cond_wait now */
    grt_mutex_unlock(&s.m);
    /* Race a broadcast and a new waiter: the new one may or may not be
     * woken, but the first one has to be. */
    CHECK(grt_go(steal_broadcast, &s) == 0);
    CHECK(grt_go(steal_second, &s) == 0);
    CHECK(recv_int(s.ch) == 2); /* "First waiter didn't get broadcast" (deadlock here) */
    grt_mutex_lock(&s.m);
    s.done = true; /* release the second waiter in case it missed it */
    grt_mutex_unlock(&s.m);
    grt_cond_broadcast(&s.cond);
    grt_wg_wait(&s.wg);
    grt_chan_free(s.ch);
  }
}

/* ---- outside a goroutine ---- */

static grt_mutex fm = GRT_MUTEX_INIT;
static grt_cond fc = GRT_COND_INIT;
static int fstate; /* under fm: 1 the thread waits, 2 signalled, 3 it woke */

static void *foreign(void *arg) {
  (void)arg;
  grt_mutex_lock(&fm);
  fstate = 1;
  while (fstate != 2)
    grt_cond_wait(&fc, &fm);
  fstate = 3;
  grt_cond_signal(&fc);
  grt_mutex_unlock(&fm);
  return NULL;
}

static void outside(void) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign, NULL) == 0);
  grt_mutex_lock(&fm);
  while (fstate != 1) {
    grt_mutex_unlock(&fm);
    grt_sleep(100000);
    grt_mutex_lock(&fm);
  }
  fstate = 2;
  grt_cond_signal(&fc);
  while (fstate != 3)
    grt_cond_wait(&fc, &fm); /* parks; the thread's signal wakes it */
  grt_mutex_unlock(&fm);
  CHECK(join_thread(t) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  CHECK(grt_maxprocs() == atoi(argv[2]));
  cond_signal();
  printf("TestCondSignal ok\n");
  cond_signal_generations();
  printf("TestCondSignalGenerations ok\n");
  cond_broadcast();
  printf("TestCondBroadcast ok\n");
  cond_race();
  printf("TestRace ok\n");
  cond_signal_stealing();
  printf("TestCondSignalStealing ok\n");
  outside();
  printf("outside a goroutine ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return sync_main("sync_cond", run, argc, argv);
}
