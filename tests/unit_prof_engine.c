/*
 * unit_prof_engine: the perf-event CPU engine samples at the rate asked
 * for, keeps the magnitude, counts kernel time, and falls back to CPU
 * timers when perf_event_open is refused (issue 14).  For each engine at
 * 1000 and 4000 Hz, two goroutines on 2 Ps burn CPU (one in user code,
 * one mostly in the kernel: write(2) of 4 KiB to /dev/null) for about a
 * CPU-second each; then, from `go tool pprof -raw`:
 *   - perf: signals delivered (unweighted) per CPU-second are at least 90%
 *     of the rate (printed next to the timer engine's, which the kernel's
 *     250 Hz tick caps);
 *   - either engine: the profile's CPU is within 3% (perf) or 10% (timer)
 *     of what the burners' thread CPU clocks measured, and the
 *     kernel-heavy one gets most of its own (kernel time in system calls
 *     is counted); the process's total is at most getrusage's;
 *   - with perf_event_open made to fail (a test hook), "auto" profiles on
 *     timers.
 * Skipped without go; the perf half is skipped (with why) where the kernel
 * refuses perf_event_open.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <sys/resource.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "sampler/sampler.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")
#define BURN_NS 1000000000LL

static grt_wg done;
static int devnull;
static volatile uint64_t sink;
static _Atomic int64_t burnt; /* the burners' own thread CPU, measured */

__attribute__((noinline)) static void user_burner(void *arg) {
  (void)arg;
  int64_t start = pprof_thread_cpu_ns(), end = start + BURN_NS, now;
  while ((now = pprof_thread_cpu_ns()) < end)
    for (int i = 0; i < 20000; i++)
      sink += (uint64_t)i * 7;
  atomic_fetch_add(&burnt, now - start);
  grt_wg_done(&done);
  NO_TAIL_CALL();
}

__attribute__((noinline)) static void kernel_burner(void *arg) {
  (void)arg;
  static char page[4096];
  int64_t start = pprof_thread_cpu_ns(), end = start + BURN_NS, now;
  while ((now = pprof_thread_cpu_ns()) < end)
    for (int i = 0; i < 50; i++)
      CHECK(write(devnull, page, sizeof page) == (ssize_t)sizeof page);
  atomic_fetch_add(&burnt, now - start);
  grt_wg_done(&done);
  NO_TAIL_CALL();
}

static int64_t rusage_ns(void) {
  struct rusage ru;
  CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static int64_t cpu_under(const struct pprof_raw *r, const char *fn) {
  int64_t n = 0;
  for (int i = 0; i < r->nsamples; i++)
    if (pprof_find_fn(r, &r->samples[i], fn, 0) >= 0) n += r->samples[i].cpu;
  return n;
}

/* One profile; returns delivered signals per CPU-second over hz. */
static double run(enum cputimer_engine want, enum cputimer_engine expect, int hz) {
  const char *path = pprof_path("engine.pb.gz");
  sampler_set_engine(want);
  uint64_t d0 = atomic_load(&sigprof.delivered);
  atomic_store(&burnt, 0);
  int64_t ru0 = rusage_ns();
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = hz}) == 0);
  CHECK(sampler_engine() == expect);
  grt_wg_add(&done, 2);
  CHECK(grt_go(user_burner, NULL) == 0);
  CHECK(grt_go(kernel_burner, NULL) == 0);
  grt_wg_wait(&done);
  int64_t ru = rusage_ns() - ru0; /* before the stop symbolizes and writes */
  CHECK(grt_prof_stop() == 0);
  uint64_t delivered = atomic_load(&sigprof.delivered) - d0;
  struct pprof_raw r;
  pprof_load(path, &r);
  int64_t total = 0;
  for (int i = 0; i < r.nsamples; i++)
    total += r.samples[i].cpu;
  int64_t user = cpu_under(&r, "user_burner"), kern = cpu_under(&r, "kernel_burner");
  /* Per CPU-second of the sampled threads (the burners; the rest is the
   * collector's naming and writing, which blocks SIGPROF). */
  double per_cpu_s = (double)delivered / ((double)atomic_load(&burnt) / 1e9);
  const char *name = expect == CPUTIMER_PERF ? "perf " : "timer";
  int64_t own = atomic_load(&burnt);
  printf("%s %4d Hz: %.0f signals per CPU-second (%.0f%% of the rate); the burners: profile "
         "%.3f s, their threads' CPU %.3f s (magnitude %.3f); kernel-heavy goroutine %.3f s, user "
         "one %.3f s; the process: profile %.3f s, rusage %.3f s (the collector's own work is "
         "not sampled)\n",
         name, hz, per_cpu_s, 100 * per_cpu_s / hz, (kern + user) / 1e9, own / 1e9,
         (double)(kern + user) / (double)own, kern / 1e9, user / 1e9, total / 1e9, ru / 1e9);
  double tol = expect == CPUTIMER_PERF ? 0.03 : 0.10;
  /* Magnitude: all the profile's CPU (only the burners burn any) against
   * what their threads' clocks measured.  Which function a sample lands
   * under is the walk's business (under ASan, its interceptors cost a few
   * percent of the kernel-heavy one's frames), checked below, loosely. */
  CHECK(total > own * (1 - tol) && total < own * (1 + tol));
  CHECK(total < ru * (1 + tol));
  /* Each burnt about a CPU-second, user or kernel alike. */
  CHECK(kern > BURN_NS * 0.8 && user > BURN_NS * 0.8);
  pprof_free(&r);
  return per_cpu_s / hz;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  pprof_skip_without_go();
  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  CHECK(devnull >= 0);
  const char *why;
  bool perf = cputimer_choose_engine(CPUTIMER_PERF, &why) == CPUTIMER_PERF;
  if (!perf) printf("perf engine: skipped, perf_event_open refused: %s\n", why);
  for (int hz = 1000; hz <= 4000; hz *= 4) {
    double t = run(CPUTIMER_TIMER, CPUTIMER_TIMER, hz);
    if (perf) {
      double p = run(CPUTIMER_PERF, CPUTIMER_PERF, hz);
      printf("%d Hz: perf delivers %.0f%% of the rate, timers %.0f%%\n", hz, 100 * p, 100 * t);
      CHECK(p >= 0.9);
    }
  }
  /* Refused: auto (which wants perf above 250 Hz) falls back to timers,
   * silently, and still profiles. */
  cputimer_test_refuse_perf(true);
  run(CPUTIMER_AUTO, CPUTIMER_TIMER, 1000);
  cputimer_test_refuse_perf(false);
  pprof_tmpdir_remove();
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
