/*
 * spread: CPU-bound goroutines spread over the Ps.  The test re-runs itself
 * as a child with GRT_MAXPROCS=1 and then 2; the child runs 4 goroutines
 * that each spin a fixed amount of arithmetic and prints its elapsed time
 * and how many goroutines each of the first two Ps ran.  The parent prints
 * the 1-P/2-P time ratio (about 2 on two idle cores) but asserts only that
 * in the 2-P run both Ps ran goroutines.  Timing is never asserted.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define SPINNERS 4
#define SPIN_ITERS 50000000L /* per goroutine: about 0.3 s in all on one core */

/* ---- child ---- */

static volatile uint64_t sink;
static grt_wg wg;

static void spin(void *arg) {
  uint64_t x = (uint64_t)(uintptr_t)arg + 1;
  for (long i = 0; i < SPIN_ITERS; i++)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  sink = x;
  grt_wg_done(&wg);
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int64_t t0 = grt_nanotime();
  grt_wg_add(&wg, SPINNERS);
  for (int i = 0; i < SPINNERS; i++)
    CHECK(grt_go(spin, (void *)(uintptr_t)i) == 0);
  grt_wg_wait(&wg);
  int64_t t1 = grt_nanotime();
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("%lld %llu %llu %d\n", (long long)(t1 - t0), (unsigned long long)st.procs_ran[0],
         (unsigned long long)st.procs_ran[1], grt_maxprocs());
  return 0;
}

/* ---- parent ---- */

static int parent(int argc, char **argv) {
  (void)argc;
  (void)argv;
  long long ns[3];
  unsigned long long ran0[3], ran1[3];
  for (int procs = 1; procs <= 2; procs++) {
    char out[256];
    char var[32];
    snprintf(var, sizeof var, "GRT_MAXPROCS=%d", procs);
    const char *args[] = {"child", NULL}, *env[] = {var, NULL};
    int status = run_self(args, env, out, NULL, sizeof out); /* stderr: ours */
    printf("GRT_MAXPROCS=%d child: %s", procs, out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int got_procs;
    CHECK(sscanf(out, "%lld %llu %llu %d", &ns[procs], &ran0[procs], &ran1[procs], &got_procs) ==
          4);
    CHECK(got_procs == procs);
  }
  printf("1 P: %.3f s, 2 Ps: %.3f s, ratio %.2f (about 2 expected on two idle cores)\n",
         ns[1] / 1e9, ns[2] / 1e9, (double)ns[1] / (double)ns[2]);
  printf("2-P run: P0 ran %llu goroutines, P1 ran %llu\n", ran0[2], ran1[2]);
  CHECK(ran1[1] == 0); /* the 1-P run has no second P */
  CHECK(ran0[2] > 0 && ran1[2] > 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  return grt_main(parent, argc, argv);
}
