/*
 * prof_fidelity: what the CPU profiler costs and how true its profile is.
 * Run by bench/prof_fidelity.sh, which computes, from this program's line
 * and the profile it writes: the CPU overhead of profiling (CPU time with
 * the profiler on over CPU time with it off), the magnitude (the profile's
 * total cpu/nanoseconds over getrusage's CPU) and the 70/30 attribution
 * error (|hog70's share of hog70 + hog30 - 0.7|).
 *
 * GRT_MAXPROCS=2.  Two CPU-bound goroutines each run MITERS million
 * iterations of a multiply-add chain (no system calls), in calls of hog70
 * and hog30 whose iteration counts are 7:3.  A call pair's length is random
 * (the same xorshift sequence as the Go twin), 15,000 to 45,000 iterations,
 * so that it cannot beat with the 4 ms kernel tick that the CPU timers are
 * checked on.  The CPU time is getrusage(RUSAGE_SELF) user + sys from just
 * after grt_prof_start to just before grt_prof_stop, so the one-off
 * symbolize-and-write cost of the stop is not in it; the stop's wall time is
 * printed apart.
 *
 * Usage: bench_prof_fidelity HZ PATH [MITERS]   (HZ 0: no profiling, PATH
 * unused).  Prints one line: "hz=H cpu_ns=C wall_ns=W stop_ns=S".
 * Go twin: bench/go/prof_fidelity.
 */
#include "benchutil.h"

#include <string.h>
#include <sys/resource.h>

#define SLICE 30000 /* iterations per hog70 + hog30 pair: SLICE/2 .. 3*SLICE/2 */

static int hz;
static const char *path;
static long miters = 1000; /* per goroutine (about 1.1 s of CPU here); argv[3] */
static volatile uint64_t sink;

/* The work: a multiply-add chain, latency bound, the same in the Go twin. */
__attribute__((noinline)) uint64_t hog70(uint64_t x, long n) {
  for (long i = 0; i < n; i++)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

__attribute__((noinline)) uint64_t hog30(uint64_t x, long n) {
  for (long i = 0; i < n; i++)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

struct worker_arg {
  uint64_t seed;
  grt_wg *wg;
};

static void worker(void *p) {
  struct worker_arg *a = p;
  uint64_t rnd = a->seed, x = a->seed;
  long total = miters * 1000000;
  for (long done = 0; done < total;) {
    rnd ^= rnd << 13; /* xorshift64 */
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    long k = SLICE / 20 + (long)(rnd % (SLICE / 10)); /* pair = 10 k iterations */
    x = hog70(x, 7 * k);
    x = hog30(x, 3 * k);
    done += 10 * k;
  }
  sink = x;
  grt_wg_done(a->wg);
}

static int64_t rusage_cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static int measure(void) {
  if (hz > 0) {
    int err = grt_prof_start(&(grt_prof_config){.path = path, .hz = hz});
    if (err != 0) {
      fprintf(stderr, "prof_fidelity: grt_prof_start: %s\n", strerror(-err));
      return 1;
    }
  }
  int64_t cpu0 = rusage_cpu_ns(), t0 = grt_nanotime();
  grt_wg wg = GRT_WG_INIT;
  struct worker_arg a1 = {1, &wg}, a2 = {2, &wg};
  grt_wg_add(&wg, 2);
  if (grt_go(worker, &a1) != 0 || grt_go(worker, &a2) != 0) {
    fprintf(stderr, "prof_fidelity: grt_go failed\n");
    return 1;
  }
  grt_wg_wait(&wg);
  int64_t cpu = rusage_cpu_ns() - cpu0, wall = grt_nanotime() - t0, stop = 0;
  if (hz > 0) {
    int64_t s0 = grt_nanotime();
    int err = grt_prof_stop();
    stop = grt_nanotime() - s0;
    if (err != 0) {
      fprintf(stderr, "prof_fidelity: grt_prof_stop: %s\n", strerror(-err));
      return 1;
    }
  }
  printf("hz=%d cpu_ns=%lld wall_ns=%lld stop_ns=%lld\n", hz, (long long)cpu, (long long)wall,
         (long long)stop);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s HZ PATH [MITERS]\n", argv[0]);
    return 2;
  }
  hz = atoi(argv[1]);
  path = argv[2];
  if (argc == 4) miters = atol(argv[3]);
  if (hz < 0 || miters <= 0) {
    fprintf(stderr, "prof_fidelity: bad HZ or MITERS\n");
    return 2;
  }
  return bench_main("2", measure, argc, argv);
}
