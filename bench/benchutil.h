/*
 * benchutil.h: the harness shared by the C benchmarks in bench/ (header-only).
 * bench_main sets GRT_MAXPROCS and runs a benchmark as grt's main goroutine;
 * bench_timed runs a warm-up round, then the measured round, and prints
 * "RESULT <metric> <value>"; bench_go_round runs a round's body in a driver
 * goroutine and waits for it on a grt_wg.  Rounds time themselves with
 * grt_nanotime, so each benchmark keeps what its timed region holds.
 */
#ifndef GRT_BENCHUTIL_H
#define GRT_BENCHUTIL_H

#include <grt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int (*bench_fn_)(void); /* the benchmark bench_main runs */

static inline int bench_main_fn_(int argc, char **argv) {
  (void)argc, (void)argv;
  return bench_fn_();
}

/* Sets GRT_MAXPROCS to procs, then runs fn as grt's main goroutine; returns
 * main's exit status. */
static inline int bench_main(const char *procs, int (*fn)(void), int argc, char **argv) {
  setenv("GRT_MAXPROCS", procs, 1);
  bench_fn_ = fn;
  return grt_main(bench_main_fn_, argc, argv);
}

/* Runs round(warmup), then round(n); each returns its elapsed ns, or -1 after
 * saying why.  Prints "RESULT <metric> <ns / per>" for the second.  Returns
 * main's exit status: 0, or 1 if a round failed. */
static inline int bench_timed(const char *metric, int64_t (*round)(long n), long warmup, long n,
                              double per) {
  if (round(warmup) < 0) return 1;
  int64_t ns = round(n);
  if (ns < 0) return 1;
  printf("RESULT %s %.2f\n", metric, (double)ns / per);
  return 0;
}

/* One round run by a driver goroutine. */
struct bench_round {
  long n;                             /* iterations */
  int64_t ns;                         /* elapsed time, measured by body */
  int err;                            /* set by body when something failed */
  void (*body)(struct bench_round *); /* the measured code */
  grt_wg done;                        /* the driver finished */
};

static inline void bench_driver_(void *p) {
  struct bench_round *r = p;
  r->body(r);
  grt_wg_done(&r->done);
}

/* Runs body for n iterations in a new driver goroutine and waits for it.
 * Returns the ns body measured, or -1 after printing "<name>: grt_go failed"
 * or, if body set err, "<name>: <failure>". */
static inline int64_t bench_go_round(const char *name, void (*body)(struct bench_round *), long n,
                                     const char *failure) {
  struct bench_round r = {n, 0, 0, body, GRT_WG_INIT};
  grt_wg_add(&r.done, 1);
  if (grt_go(bench_driver_, &r) != 0) {
    fprintf(stderr, "%s: grt_go failed\n", name);
    return -1;
  }
  grt_wg_wait(&r.done);
  if (r.err) {
    fprintf(stderr, "%s: %s\n", name, failure);
    return -1;
  }
  return r.ns;
}

#endif
