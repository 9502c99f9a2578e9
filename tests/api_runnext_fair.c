/*
 * api_runnext_fair: two goroutines that hand off to each other through
 * runnext (a ping-pong over unbuffered channels) do not starve the rest of
 * their P's queue.  On 1 P, the pair loops until a third goroutine, queued
 * behind them, sets a flag.  Scheduling is cooperative, so without the
 * scheduler taking the queue's head now and then, the third never runs and
 * this test hangs (and fails by ctest's timeout; nothing here is timed).
 * The same happened to a sleeper woken by its timer behind such a pair.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"

static grt_chan *ping, *pong;
static _Atomic int stop;
static grt_wg done;

static void pinger(void *arg) {
  (void)arg;
  int v = 0;
  while (!atomic_load(&stop)) {
    CHECK(grt_chan_send(ping, &v) == 0);
    CHECK(grt_chan_recv(pong, &v) == 1);
  }
  v = -1;
  CHECK(grt_chan_send(ping, &v) == 0);
  grt_wg_done(&done);
}

static void ponger(void *arg) {
  (void)arg;
  int v;
  while (grt_chan_recv(ping, &v) == 1 && v >= 0)
    CHECK(grt_chan_send(pong, &v) == 0);
  grt_wg_done(&done);
}

static void stopper(void *arg) {
  (void)arg;
  atomic_store(&stop, 1);
  grt_wg_done(&done);
}

static void sleeper(void *arg) {
  (void)arg;
  grt_sleep(10000000); /* woken by its timer, behind the pair */
  grt_go(stopper, NULL);
  grt_wg_done(&done);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 1);
  ping = grt_chan_make(sizeof(int), 0);
  pong = grt_chan_make(sizeof(int), 0);
  CHECK(ping && pong);
  grt_wg_add(&done, 4);
  CHECK(grt_go(pinger, NULL) == 0);
  CHECK(grt_go(ponger, NULL) == 0);
  CHECK(grt_go(sleeper, NULL) == 0);
  grt_wg_wait(&done);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
