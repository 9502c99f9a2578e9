/*
 * dump_gfree: dead goroutines' records are freed while dumps read them.
 * Dumps walk every G without locks, so the idle Ms must free a G only
 * while no dump walks the list (run it under ASan to see a use after free
 * if they did not).  For about 3 s, bursts of BURST goroutines start,
 * wait on a channel until all of them run, and exit when it closes; then
 * everything idles 400 ms so that idle Ms free
 * the Gs beyond their caches, while a goroutine dumps every goroutine to
 * /dev/null over and over.  Every dump must succeed, and after an idle
 * time the live stacks (one per cached G) must be far fewer than the
 * goroutines of one burst: the freeing got its turns between dumps.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"

#define BURST ASAN_SCALED(20000, 16000) /* twice the free Gs kept, and more */

static _Atomic int stop;
static _Atomic long dumps;
static grt_wg wg, dumper_done;

static grt_chan *gate;

static void short_lived(void *unused) {
  (void)unused;
  grt_chan_recv(gate, NULL); /* all of a burst live at once */
  grt_wg_done(&wg);
}

static void dumper(void *unused) {
  (void)unused;
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  while (!atomic_load(&stop)) {
    CHECK(grt_dump(fd) == 0);
    atomic_fetch_add(&dumps, 1);
    grt_sleep(2000000);
  }
  close(fd);
  grt_wg_done(&dumper_done);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&dumper_done, 1);
  CHECK(grt_go(dumper, NULL) == 0);
  int64_t t0 = grt_nanotime();
  int bursts = 0;
  grt_stats st;
  uint64_t max_stacks = 0, min_idle = UINT64_MAX;
  while (grt_nanotime() - t0 < 2500000000) {
    gate = grt_chan_make(0, 0);
    CHECK(gate);
    grt_wg_add(&wg, BURST);
    for (int i = 0; i < BURST; i++)
      CHECK(grt_go(short_lived, NULL) == 0);
    CHECK(grt_read_stats(&st) == 0);
    if (st.stacks_guarded + st.stacks_canary > max_stacks)
      max_stacks = st.stacks_guarded + st.stacks_canary;
    CHECK(grt_chan_close(gate) == 0);
    grt_wg_wait(&wg);
    grt_chan_free(gate);
    grt_sleep(400000000);
    CHECK(grt_read_stats(&st) == 0);
    if (st.stacks_guarded + st.stacks_canary < min_idle)
      min_idle = st.stacks_guarded + st.stacks_canary;
    bursts++;
  }
  atomic_store(&stop, 1);
  grt_wg_wait(&dumper_done);
  printf("%d bursts of %d goroutines, %ld dumps; live stacks: %llu at the peak of a burst, as "
         "few as %llu after the idle time that followed one\n",
         bursts, BURST, atomic_load(&dumps), (unsigned long long)max_stacks,
         (unsigned long long)min_idle);
  /* Under qemu-user a dump of 20000 goroutines takes seconds (two
   * emulated system calls per stack read): one must still complete. */
  CHECK(atomic_load(&dumps) >= (test_emulated() ? 1 : 5));
  CHECK(max_stacks >= (uint64_t)BURST);
  CHECK(min_idle < (uint64_t)BURST / 2);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
