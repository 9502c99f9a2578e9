/*
 * unit_allg_walk: no G is freed while a walk of allg (sched_allg, as
 * dumps do, without locks) is open, and the idle Ms free them once it
 * ends (white-box: links grt_internal).
 *   - BURST goroutines live at once, then exit.
 *   - With a walk open, 500 ms of idling: the free Gs beyond the caches
 *     come off the list, but none is freed: their stacks stay counted, and
 *     every G the walk could have stood on (all of the list when it
 *     began) still reads as a G, with its link (ASan would report a freed
 *     one).
 *   - Walk done, 500 ms more: the live stacks fall below BURST / 2, and a
 *     new walk reaches fewer Gs than the open one did.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>

#include "testutil.h"
#include "runtime/runtime.h"

#define BURST 16000 /* over twice the free Gs the runtime keeps */

static grt_chan *gate;
static grt_wg wg;

static void short_lived(void *unused) {
  (void)unused;
  grt_chan_recv(gate, NULL);
  grt_wg_done(&wg);
}

static uint64_t live_stacks(void) {
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  return st.stacks_guarded + st.stacks_canary;
}

static struct g *seen[BURST * 2];

/* Gs reachable from head, reading each one's status as dumps do; the
 * first ones are recorded in seen[]. */
static long walk_from(struct g *head) {
  long n = 0;
  for (struct g *gp = head; gp; gp = __atomic_load_n(&gp->alllink, __ATOMIC_RELAXED)) {
    if (n < BURST * 2) seen[n] = gp;
    n++;
    (void)atomic_load(&gp->status);
  }
  return n;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  gate = grt_chan_make(0, 0);
  CHECK(gate);
  grt_wg_add(&wg, BURST);
  for (int i = 0; i < BURST; i++)
    CHECK(grt_go(short_lived, NULL) == 0);
  CHECK(grt_chan_close(gate) == 0);
  grt_wg_wait(&wg);
  uint64_t peak = live_stacks();

  long n_open = walk_from(sched_allg()); /* a walk is open from here */
  CHECK(n_open >= BURST && n_open <= BURST * 2);
  grt_sleep(500000000);
  uint64_t during = live_stacks();
  long dead = 0, linked = 0;
  for (long i = 0; i < n_open; i++) {
    dead += atomic_load(&seen[i]->status) == G_DEAD;
    linked += __atomic_load_n(&seen[i]->alllink, __ATOMIC_RELAXED) != NULL;
  }
  printf("%d goroutines exited: %llu live stacks; after 500 ms idle with a walk open: %llu; "
         "of the %ld Gs it began with, %ld dead, %ld linked\n",
         BURST, (unsigned long long)peak, (unsigned long long)during, n_open, dead, linked);
  CHECK(peak >= BURST);
  CHECK(during >= BURST); /* nothing freed */
  CHECK(dead >= BURST);
  CHECK(linked == n_open - 1); /* only the last has no next */
  sched_allg_done();

  grt_sleep(500000000);
  uint64_t after = live_stacks();
  long n_after = walk_from(sched_allg());
  sched_allg_done();
  printf("walk done, 500 ms more: %llu live stacks, a new walk reaches %ld Gs\n",
         (unsigned long long)after, n_after);
  CHECK(after < BURST / 2);
  CHECK(n_after < n_open - BURST / 2);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
