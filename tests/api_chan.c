/*
 * api_chan: channel semantics.  Buffered channels are FIFO (alone and with
 * a concurrent producer); closing wakes every blocked receiver with 0 and a
 * zeroed element; send or close on a closed channel returns -EPIPE, also to
 * a sender that was blocked on a full channel; an unbuffered channel with 4
 * producers and 4 consumers on 2 Ps hands over exactly the values sent;
 * grt_chan_len and grt_chan_cap report the buffer.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

/* ASan: scaled down from 10^5 to stay quick. */
#define HANDOFF_VALUES ASAN_SCALED(100000, 20000)
#define FIFO_N 100
#define PRODUCED 10000
#define RECEIVERS 50
#define NPROD 4
#define NCONS 4

static grt_wg wg;

/* ---- FIFO with a concurrent producer ---- */

static void producer(void *arg) {
  grt_chan *c = arg;
  for (int i = 1; i <= PRODUCED; i++)
    CHECK(grt_chan_send(c, &i) == 0);
  CHECK(grt_chan_close(c) == 0);
}

/* ---- close wakes every blocked receiver ---- */

static atomic_int started;
static int recv_ret[RECEIVERS], recv_val[RECEIVERS];
static grt_chan *wake_chan;

static void receiver(void *arg) {
  int i = (int)(intptr_t)arg;
  int v = 0x5a5a5a5a;
  atomic_fetch_add(&started, 1);
  recv_ret[i] = grt_chan_recv(wake_chan, &v);
  recv_val[i] = v;
  grt_wg_done(&wg);
}

/* ---- a sender blocked on a full channel ---- */

static atomic_int blocked_send_ret = 1;

static void blocked_sender(void *arg) {
  grt_chan *c = arg;
  int v = 2;
  atomic_fetch_add(&started, 1);
  blocked_send_ret = grt_chan_send(c, &v);
  grt_wg_done(&wg);
}

/* ---- unbuffered handoff ---- */

static grt_chan *hand;
static grt_wg prod_wg;
static _Atomic uint64_t got_count, got_sum, got_sumsq;

static void hand_producer(void *arg) {
  int p = (int)(intptr_t)arg;
  for (int v = p + 1; v <= HANDOFF_VALUES; v += NPROD)
    CHECK(grt_chan_send(hand, &v) == 0);
  grt_wg_done(&prod_wg);
}

static void hand_consumer(void *arg) {
  (void)arg;
  uint64_t n = 0, sum = 0, sumsq = 0;
  int v;
  int r;
  while ((r = grt_chan_recv(hand, &v)) == 1) {
    CHECK(v >= 1 && v <= HANDOFF_VALUES);
    n++;
    sum += (uint64_t)v;
    sumsq += (uint64_t)v * (uint64_t)v;
  }
  CHECK(r == 0);
  atomic_fetch_add(&got_count, n);
  atomic_fetch_add(&got_sum, sum);
  atomic_fetch_add(&got_sumsq, sumsq);
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 2);

  /* FIFO: fill a cap-N channel, then drain it. */
  grt_chan *c = grt_chan_make(sizeof(int), FIFO_N);
  CHECK(c);
  CHECK(grt_chan_cap(c) == FIFO_N);
  CHECK(grt_chan_len(c) == 0);
  for (int i = 1; i <= FIFO_N; i++)
    CHECK(grt_chan_send(c, &i) == 0);
  CHECK(grt_chan_len(c) == FIFO_N);
  for (int i = 1; i <= FIFO_N; i++) {
    int v = 0;
    CHECK(grt_chan_recv(c, &v) == 1);
    CHECK(v == i);
    CHECK(grt_chan_len(c) == FIFO_N - i);
  }
  grt_chan_free(c);

  /* FIFO through a small buffer with a producer goroutine. */
  c = grt_chan_make(sizeof(int), 4);
  CHECK(c && grt_chan_cap(c) == 4);
  CHECK(grt_go(producer, c) == 0);
  int expect = 1, v;
  int r;
  while ((r = grt_chan_recv(c, &v)) == 1) {
    CHECK(v == expect);
    expect++;
  }
  CHECK(r == 0);
  CHECK(expect == PRODUCED + 1);
  grt_chan_free(c);

  /* Close wakes every blocked receiver. */
  wake_chan = grt_chan_make(sizeof(int), 0);
  CHECK(wake_chan && grt_chan_cap(wake_chan) == 0);
  grt_wg_add(&wg, RECEIVERS);
  for (int i = 0; i < RECEIVERS; i++)
    CHECK(grt_go(receiver, (void *)(intptr_t)i) == 0);
  while (atomic_load(&started) < RECEIVERS)
    grt_sleep(1000000);
  grt_sleep(20000000); /* let them reach grt_chan_recv and park */
  CHECK(grt_chan_close(wake_chan) == 0);
  grt_wg_wait(&wg);
  for (int i = 0; i < RECEIVERS; i++) {
    CHECK(recv_ret[i] == 0);
    CHECK(recv_val[i] == 0);
  }

  /* Send and close on a closed channel. */
  int one = 1;
  CHECK(grt_chan_send(wake_chan, &one) == -EPIPE);
  CHECK(grt_chan_close(wake_chan) == -EPIPE);
  CHECK(grt_chan_recv(wake_chan, NULL) == 0);
  grt_chan_free(wake_chan);

  /* A sender blocked on a full channel gets -EPIPE when it is closed; the
   * buffered value is still delivered, then the channel reads as closed. */
  c = grt_chan_make(sizeof(int), 1);
  CHECK(c);
  CHECK(grt_chan_send(c, &one) == 0);
  atomic_store(&started, 0);
  grt_wg_add(&wg, 1);
  CHECK(grt_go(blocked_sender, c) == 0);
  while (atomic_load(&started) < 1)
    grt_sleep(1000000);
  grt_sleep(20000000);          /* let it block in grt_chan_send */
  CHECK(blocked_send_ret == 1); /* still blocked */
  CHECK(grt_chan_len(c) == 1);
  CHECK(grt_chan_close(c) == 0);
  grt_wg_wait(&wg);
  CHECK(blocked_send_ret == -EPIPE);
  v = 0;
  CHECK(grt_chan_recv(c, &v) == 1 && v == 1);
  v = 7;
  CHECK(grt_chan_recv(c, &v) == 0 && v == 0);
  CHECK(grt_chan_len(c) == 0);
  grt_chan_free(c);

  /* Zero-size elements: len counts them. */
  c = grt_chan_make(0, 3);
  CHECK(c && grt_chan_cap(c) == 3);
  for (int i = 0; i < 3; i++)
    CHECK(grt_chan_send(c, NULL) == 0);
  CHECK(grt_chan_len(c) == 3);
  CHECK(grt_chan_recv(c, NULL) == 1);
  CHECK(grt_chan_len(c) == 2);
  grt_chan_free(c);

  /* Unbuffered handoff, 4 producers x 4 consumers: every value exactly once. */
  hand = grt_chan_make(sizeof(int), 0);
  CHECK(hand);
  grt_wg_add(&prod_wg, NPROD);
  grt_wg_add(&wg, NCONS);
  for (int i = 0; i < NCONS; i++)
    CHECK(grt_go(hand_consumer, NULL) == 0);
  for (int i = 0; i < NPROD; i++)
    CHECK(grt_go(hand_producer, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&prod_wg);
  CHECK(grt_chan_close(hand) == 0);
  grt_wg_wait(&wg);
  uint64_t n = HANDOFF_VALUES;
  printf("handoff: %llu values, sum %llu (want %llu)\n", (unsigned long long)got_count,
         (unsigned long long)got_sum, (unsigned long long)(n * (n + 1) / 2));
  CHECK(got_count == n);
  CHECK(got_sum == n * (n + 1) / 2);
  CHECK(got_sumsq == n * (n + 1) * (2 * n + 1) / 6);
  grt_chan_free(hand);
  printf("api_chan: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
