/*
 * ext_extra_ms: extra Ms are recycled.  1,000 short-lived pthreads, 8 alive
 * at a time (batches of 8, joined before the next batch starts), each make
 * one grt_callback that does a round trip over channels with an echo
 * goroutine and yields, then exit.  An exiting thread gives its extra M
 * back, so grt_read_stats().extra_ms (extra Ms ever created) stays bounded
 * by the concurrency, not the thread count: at most 64 (8 expected).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define NTHREADS 1000
#define BATCH 8
#define MAX_EXTRA_MS 64

static grt_chan *ping, *pong;

static void echo(void *arg) {
  (void)arg;
  int v;
  while (grt_chan_recv(ping, &v) == 1) {
    v = -v;
    CHECK(grt_chan_send(pong, &v) == 0);
  }
}

/* Goroutine code: one round trip to the echo goroutine. */
static void *round_trip(void *arg) {
  int v = (int)(intptr_t)arg, r;
  CHECK(grt_chan_send(ping, &v) == 0);
  CHECK(grt_chan_recv(pong, &r) == 1);
  grt_yield();
  return (void *)(intptr_t)r;
}

static void *short_lived(void *arg) {
  int v = (int)(intptr_t)arg;
  /* Round trips from concurrent threads may cross: any echo is a negative
   * value we sent, and the sum over all threads is checked below. */
  return grt_callback(round_trip, (void *)(intptr_t)v);
}

static intptr_t echoed_sum;

static void *join_batch(void *arg) {
  pthread_t *tids = arg;
  for (int i = 0; i < BATCH; i++) {
    void *r;
    CHECK(pthread_join(tids[i], &r) == 0);
    echoed_sum += (intptr_t)r;
  }
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  ping = grt_chan_make(sizeof(int), 0);
  pong = grt_chan_make(sizeof(int), 0);
  CHECK(ping && pong);
  CHECK(grt_go(echo, NULL) == 0);

  for (int b = 0; b < NTHREADS / BATCH; b++) {
    pthread_t tids[BATCH];
    for (int i = 0; i < BATCH; i++)
      CHECK(pthread_create(&tids[i], NULL, short_lived, (void *)(intptr_t)(b * BATCH + i + 1)) ==
            0);
    CHECK(grt_extcall(join_batch, tids) == NULL);
  }

  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  intptr_t n = NTHREADS;
  printf("%d threads, %d at a time: extra_ms = %llu (limit %d), echoed sum %ld (want %ld)\n",
         NTHREADS, BATCH, (unsigned long long)st.extra_ms, MAX_EXTRA_MS, (long)echoed_sum,
         (long)(-n * (n + 1) / 2));
  CHECK(echoed_sum == -n * (n + 1) / 2);
  CHECK(st.extra_ms >= 1);
  CHECK(st.extra_ms <= MAX_EXTRA_MS);
  printf("ext_extra_ms: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
