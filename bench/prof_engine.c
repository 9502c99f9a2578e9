/*
 * prof_engine: the CPU profiler's two engines (perf events and POSIX CPU
 * timers) side by side: signals delivered per CPU-second, CPU cost, and
 * (from the profile, by bench/prof_engine.sh) magnitude.  It links the
 * internal archive to pick the engine (sampler_set_engine, what
 * GRT_CPUPROFILE_ENGINE sets) and to read the handler's count of
 * delivered signals (sigprof.delivered: unweighted, where the profile's
 * counts carry the timer engine's overrun weights).
 *
 * GRT_MAXPROCS=2.  Two CPU-bound goroutines each run MITERS million
 * iterations of a multiply-add chain (no system calls), in slices of
 * 10,000 to 20,000 iterations (an xorshift sequence), as prof_fidelity
 * does.  The CPU time is getrusage(RUSAGE_SELF) user + sys from just after
 * grt_prof_start to just before grt_prof_stop.
 *
 * Usage: bench_prof_engine ENGINE HZ PATH [MITERS]
 *   ENGINE: off (no profile; HZ and PATH unused), perf or timer.
 * Prints one line: "engine=E hz=H cpu_ns=C wall_ns=W delivered=D", or
 * exits 3 with "prof_engine: perf refused: why" where the kernel refuses
 * perf_event_open.
 */
#include "benchutil.h"

#include "sampler/sampler.h"

#include <string.h>
#include <sys/resource.h>

static int hz;
static const char *path;
static const char *engine;
static long miters = 1000;
static volatile uint64_t sink;

__attribute__((noinline)) uint64_t burn(uint64_t x, long n) {
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
    long k = 10000 + (long)(rnd % 10000);
    x = burn(x, k);
    done += k;
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
  bool on = strcmp(engine, "off") != 0;
  enum cputimer_engine want = strcmp(engine, "perf") == 0 ? CPUTIMER_PERF : CPUTIMER_TIMER;
  if (on && want == CPUTIMER_PERF) {
    const char *why = NULL;
    if (cputimer_choose_engine(CPUTIMER_PERF, &why) != CPUTIMER_PERF) {
      printf("prof_engine: perf refused: %s\n", why ? why : "?");
      return 3;
    }
  }
  uint64_t d0 = atomic_load(&sigprof.delivered);
  if (on) {
    sampler_set_engine(want);
    int err = grt_prof_start(&(grt_prof_config){.path = path, .hz = hz});
    if (err != 0) {
      fprintf(stderr, "prof_engine: grt_prof_start: %s\n", strerror(-err));
      return 1;
    }
    if (sampler_engine() != want) {
      fprintf(stderr, "prof_engine: got another engine than %s\n", engine);
      return 1;
    }
  }
  int64_t cpu0 = rusage_cpu_ns(), t0 = grt_nanotime();
  grt_wg wg = GRT_WG_INIT;
  struct worker_arg a1 = {1, &wg}, a2 = {2, &wg};
  grt_wg_add(&wg, 2);
  if (grt_go(worker, &a1) != 0 || grt_go(worker, &a2) != 0) {
    fprintf(stderr, "prof_engine: grt_go failed\n");
    return 1;
  }
  grt_wg_wait(&wg);
  int64_t cpu = rusage_cpu_ns() - cpu0, wall = grt_nanotime() - t0;
  if (on) {
    int err = grt_prof_stop();
    if (err != 0) {
      fprintf(stderr, "prof_engine: grt_prof_stop: %s\n", strerror(-err));
      return 1;
    }
  }
  uint64_t delivered = atomic_load(&sigprof.delivered) - d0;
  printf("engine=%s hz=%d cpu_ns=%lld wall_ns=%lld delivered=%llu\n", engine, on ? hz : 0,
         (long long)cpu, (long long)wall, (unsigned long long)delivered);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: %s off|perf|timer HZ PATH [MITERS]\n", argv[0]);
    return 2;
  }
  engine = argv[1];
  hz = atoi(argv[2]);
  path = argv[3];
  if (argc == 5) miters = atol(argv[4]);
  if ((strcmp(engine, "off") && strcmp(engine, "perf") && strcmp(engine, "timer")) || hz < 0 ||
      hz > 10000 || miters <= 0) {
    fprintf(stderr, "prof_engine: bad ENGINE, HZ or MITERS\n");
    return 2;
  }
  return bench_main("2", measure, argc, argv);
}
