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

/* ---- Optional block and mutex profiles (bench/contention.sh) ----
 * A benchmark that takes "[block_rate_ns [mutex_fraction [prefix]]]" after
 * its own arguments turns the profiles on before its warm-up round
 * (bench_contention_on; 0 leaves one off) and, given a prefix, writes them
 * after the measured round to <prefix>.block.pb.gz and <prefix>.mutex.pb.gz
 * (bench_contention_write), so the script can count what they recorded. */
static int64_t bench_block_rate_;
static int bench_mutex_fraction_;
static const char *bench_prof_prefix_;

/* Parses argv[first..]; returns 0, or 2 after a usage line. */
static inline int bench_contention_args(int argc, char **argv, int first) {
  if (argc > first) bench_block_rate_ = atoll(argv[first]);
  if (argc > first + 1) bench_mutex_fraction_ = atoi(argv[first + 1]);
  if (argc > first + 2) bench_prof_prefix_ = argv[first + 2];
  if (argc > first + 3 || bench_block_rate_ < 0 || bench_mutex_fraction_ < 0) {
    fprintf(stderr, "%s: bad profile arguments: [block_rate_ns [mutex_fraction [prefix]]]\n",
            argv[0]);
    return 2;
  }
  return 0;
}

static inline void bench_contention_on(void) {
  if (bench_block_rate_ > 0) grt_set_block_profile_rate(bench_block_rate_);
  if (bench_mutex_fraction_ > 0) grt_set_mutex_profile_fraction(bench_mutex_fraction_);
}

static inline int bench_write_one_(const char *kind, int (*write)(int)) {
  char path[4096];
  snprintf(path, sizeof path, "%s.%s.pb.gz", bench_prof_prefix_, kind);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    return 1;
  }
  int err = write(fileno(f));
  if (fclose(f) != 0 || err != 0) {
    fprintf(stderr, "writing %s failed (%d)\n", path, err);
    return 1;
  }
  return 0;
}

/* 0, or 1 if a profile could not be written. */
static inline int bench_contention_write(void) {
  if (!bench_prof_prefix_) return 0;
  return bench_write_one_("block", grt_block_profile_write) |
         bench_write_one_("mutex", grt_mutex_profile_write);
}

#endif
