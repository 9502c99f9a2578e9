/*
 * ext_handoff: a blocking grt_extcall gives its P away.  With a single P
 * (GRT_MAXPROCS=1), the main goroutine makes a 300 ms grt_extcall that
 * sleeps in nanosleep, while a second goroutine counts in a loop that never
 * yields.  The counter must advance while the call blocks: sampled by the
 * external code when the call starts and when its sleep ends, and by the
 * goroutine right before and right after the extcall.  The external code
 * tells the counting goroutine to stop before it returns, since that
 * goroutine would otherwise keep the only P forever.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

#define BLOCK_NS 300000000L /* 300 ms */

static volatile unsigned long counter;
static atomic_int stop;
static grt_chan *done;

static void counting(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed))
    counter++;
  CHECK(grt_chan_send(done, NULL) == 0);
}

static unsigned long ext_start, ext_end;

/* External code: block the thread for 300 ms. */
static void *block(void *arg) {
  (void)arg;
  ext_start = counter;
  struct timespec ts = {BLOCK_NS / 1000000000L, BLOCK_NS % 1000000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
  ext_end = counter;
  atomic_store(&stop, 1);
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CHECK(grt_maxprocs() == 1);
  done = grt_chan_make(0, 1);
  CHECK(done);
  CHECK(grt_go(counting, NULL) == 0); /* queued: our P is busy with us */
  unsigned long before = counter;
  int64_t t0 = grt_nanotime();
  CHECK(grt_extcall(block, NULL) == NULL);
  unsigned long after = counter;
  int64_t t1 = grt_nanotime();
  CHECK(grt_chan_recv(done, NULL) == 1);
  printf("counter: %lu before the extcall, %lu when it started, %lu when its sleep ended, "
         "%lu after it (%.0f ms)\n",
         before, ext_start, ext_end, after, (t1 - t0) / 1e6);
  CHECK(t1 - t0 >= BLOCK_NS);
  CHECK(ext_end > ext_start);
  CHECK(after > before);
  printf("ext_handoff: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
