/*
 * api_select: grt_select semantics.  A non-blocking select returns -EAGAIN when
 * no case is ready and the ready case's index when one is; send and recv
 * cases mix; a case on a NULL channel is never chosen; recv from a closed
 * channel gives ok = 0 and a zeroed element; a blocking select is woken by
 * another goroutine's send and gets its value; with two cases always ready,
 * each is taken 40-60% of the time over 10^5 rounds.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define ROUNDS 100000

static void late_sender(void *arg) {
  grt_chan *c = arg;
  int v = 42;
  grt_sleep(10000000); /* 10 ms: the select below is parked by then */
  CHECK(grt_chan_send(c, &v) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_chan *a = grt_chan_make(sizeof(int), 0);
  grt_chan *b = grt_chan_make(sizeof(int), 1);
  CHECK(a && b);
  int va = -1, vb = -1;

  /* Nothing ready: -1, and nothing is consumed. */
  grt_select_case cs[3] = {
      {.chan = a, .dir = GRT_RECV, .elem = &va},
      {.chan = b, .dir = GRT_RECV, .elem = &vb},
  };
  CHECK(grt_select(cs, 2, 0) == -EAGAIN);
  CHECK(grt_select(NULL, 0, 0) == -EAGAIN);

  /* One ready: its index, with the value. */
  int seven = 7;
  CHECK(grt_chan_send(b, &seven) == 0);
  cs[1].ok = -1;
  CHECK(grt_select(cs, 2, 0) == 1);
  CHECK(cs[1].ok == 1 && vb == 7);
  CHECK(grt_chan_len(b) == 0);
  CHECK(grt_select(cs, 2, 0) == -EAGAIN);

  /* Mixed: recv from empty b vs send into b (room): the send is taken. */
  int nine = 9, got = 0;
  grt_select_case mix[2] = {
      {.chan = b, .dir = GRT_RECV, .elem = &got},
      {.chan = b, .dir = GRT_SEND, .elem = &nine},
  };
  CHECK(grt_select(mix, 2, 0) == 1);
  CHECK(grt_chan_len(b) == 1);
  /* Now b is full: only the recv can proceed. */
  CHECK(grt_select(mix, 2, 0) == 0);
  CHECK(mix[0].ok == 1 && got == 9);
  /* A send to a full channel and a recv from an empty one: nothing ready. */
  grt_chan *full = grt_chan_make(sizeof(int), 1);
  CHECK(full && grt_chan_send(full, &nine) == 0);
  grt_select_case none[2] = {
      {.chan = full, .dir = GRT_SEND, .elem = &nine},
      {.chan = b, .dir = GRT_RECV, .elem = &got},
  };
  CHECK(grt_select(none, 2, 0) == -EAGAIN);
  CHECK(grt_chan_len(full) == 1);

  /* NULL channels: never chosen, even when the other case is always ready. */
  grt_chan *closed = grt_chan_make(sizeof(int), 0);
  CHECK(closed && grt_chan_close(closed) == 0);
  int x = 0;
  grt_select_case withnull[3] = {
      {.chan = NULL, .dir = GRT_RECV, .elem = &x},
      {.chan = NULL, .dir = GRT_SEND, .elem = &x},
      {.chan = closed, .dir = GRT_RECV, .elem = &x},
  };
  for (int i = 0; i < 1000; i++)
    CHECK(grt_select(withnull, 3, 1) == 2);
  CHECK(grt_select(withnull, 2, 0) == -EAGAIN);

  /* Recv from a closed channel: ok = 0, element zeroed. */
  x = 1234;
  withnull[2].ok = -1;
  CHECK(grt_select(&withnull[2], 1, 0) == 0);
  CHECK(withnull[2].ok == 0 && x == 0);
  /* Send to a closed channel: taken, ok = 0. */
  grt_select_case sendclosed = {.chan = closed, .dir = GRT_SEND, .elem = &x, .ok = -1};
  CHECK(grt_select(&sendclosed, 1, 0) == 0);
  CHECK(sendclosed.ok == 0);

  /* A blocking select woken by another goroutine's send. */
  va = vb = -1;
  cs[0].ok = cs[1].ok = -1;
  CHECK(grt_go(late_sender, a) == 0);
  CHECK(grt_select(cs, 2, 1) == 0);
  CHECK(cs[0].ok == 1 && va == 42);

  /* Fairness: two closed channels are always ready. */
  grt_chan *closed2 = grt_chan_make(sizeof(int), 0);
  CHECK(closed2 && grt_chan_close(closed2) == 0);
  grt_select_case fair[2] = {
      {.chan = closed, .dir = GRT_RECV, .elem = NULL},
      {.chan = closed2, .dir = GRT_RECV, .elem = NULL},
  };
  long count[2] = {0, 0};
  for (int i = 0; i < ROUNDS; i++) {
    int r = grt_select(fair, 2, 0);
    CHECK(r == 0 || r == 1);
    CHECK(fair[r].ok == 0);
    count[r]++;
  }
  printf("fairness over %d rounds: case 0 %ld, case 1 %ld\n", ROUNDS, count[0], count[1]);
  CHECK(count[0] >= ROUNDS * 4 / 10 && count[0] <= ROUNDS * 6 / 10);
  CHECK(count[1] >= ROUNDS * 4 / 10 && count[1] <= ROUNDS * 6 / 10);

  /* Fairness with two buffered channels kept non-empty. */
  grt_chan *p = grt_chan_make(sizeof(int), 1), *q = grt_chan_make(sizeof(int), 1);
  CHECK(p && q);
  int zero = 0, one = 1, v = -1;
  CHECK(grt_chan_send(p, &zero) == 0 && grt_chan_send(q, &one) == 0);
  grt_select_case fair2[2] = {
      {.chan = p, .dir = GRT_RECV, .elem = &v},
      {.chan = q, .dir = GRT_RECV, .elem = &v},
  };
  count[0] = count[1] = 0;
  for (int i = 0; i < ROUNDS; i++) {
    int r = grt_select(fair2, 2, 1);
    CHECK(r == 0 || r == 1);
    CHECK(fair2[r].ok == 1 && v == r);
    count[r]++;
    CHECK(grt_chan_send(r ? q : p, &v) == 0); /* refill */
  }
  printf("buffered fairness over %d rounds: case 0 %ld, case 1 %ld\n", ROUNDS, count[0], count[1]);
  CHECK(count[0] >= ROUNDS * 4 / 10 && count[0] <= ROUNDS * 6 / 10);
  CHECK(count[1] >= ROUNDS * 4 / 10 && count[1] <= ROUNDS * 6 / 10);

  grt_chan_free(a);
  grt_chan_free(b);
  grt_chan_free(full);
  grt_chan_free(closed);
  grt_chan_free(closed2);
  grt_chan_free(p);
  grt_chan_free(q);
  printf("api_select: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
