/*
 * unit_wallprof: the goroutine wall-clock profile (issue 14), read back
 * with the real `go tool pprof -raw`.
 *   - `naps` sleeps 7 ms and computes 3 ms, over and over: the share of
 *     its samples with state=sleep is the share of time it measured asleep
 *     (about 70%), within 5 points; the rest are running.
 *   - `calls_out` sits in grt_extcall: its samples have state=extcall and
 *     its stack.
 *   - 10,000 parked goroutines at 100 Hz: a goroutine that did not move is
 *     counted from its cache (few stacks read), and a tick counts at most
 *     1,000 goroutines (a run from a random start, weighted).  Printed, not
 *     checked: the profile thread's CPU cost (the aim is under 2%; memory
 *     latency, which the machine's other load multiplies, decides it).
 *     Weighted, the profile still holds every goroutine each tick.
 *   - Misuse: a second start, a stop with none running, hz out of range:
 *     one line each.
 * Skipped without go.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "pprof/wallprof.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")
#define PARKED 10000

static _Atomic int stop;
static int64_t nap_ns, nap_total_ns; /* naps' own measure: asleep, and in all */
static grt_wg done;

__attribute__((noinline)) static void naps(void *arg) {
  (void)arg;
  static volatile uint64_t sink;
  int64_t start = grt_nanotime();
  while (!atomic_load(&stop)) {
    int64_t t0 = grt_nanotime();
    grt_sleep(7000000);
    nap_ns += grt_nanotime() - t0;
    for (int64_t end = grt_nanotime() + 3000000; grt_nanotime() < end;)
      sink++;
  }
  nap_total_ns = grt_nanotime() - start;
  grt_wg_done(&done);
  NO_TAIL_CALL();
}

static pthread_mutex_t ext_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ext_cv = PTHREAD_COND_INITIALIZER;
static int ext_release;

static void *waits_in_c(void *arg) {
  (void)arg;
  pthread_mutex_lock(&ext_mu);
  while (!ext_release)
    pthread_cond_wait(&ext_cv, &ext_mu);
  pthread_mutex_unlock(&ext_mu);
  return NULL;
}

__attribute__((noinline)) static void calls_out(void *arg) {
  (void)arg;
  grt_extcall(waits_in_c, NULL);
  grt_wg_done(&done);
  NO_TAIL_CALL();
}

static grt_chan *never;
static void parked(void *arg) {
  (void)arg;
  grt_chan_recv(never, NULL);
  grt_wg_done(&done);
}

/* Counts of fn's samples by state. */
static void by_state(const struct pprof_raw *p, const char *fn, int64_t *sleep, int64_t *running,
                     int64_t *extcall, int64_t *other) {
  *sleep = *running = *extcall = *other = 0;
  for (int i = 0; i < p->nsamples; i++) {
    const struct pprof_sample *s = &p->samples[i];
    if (pprof_find_fn(p, s, fn, 0) < 0) continue;
    if (strstr(s->labels, "state:[sleep]"))
      *sleep += s->count;
    else if (strstr(s->labels, "state:[running]"))
      *running += s->count;
    else if (strstr(s->labels, "state:[extcall]"))
      *extcall += s->count;
    else
      *other += s->count;
  }
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  pprof_skip_without_go();
  never = grt_chan_make(0, 0);

  /* States. */
  const char *path = pprof_path("wall.pb.gz");
  CHECK(grt_wallprof_start(&(grt_prof_config){.path = path, .hz = 200}) == 0);
  ONE_LINE("grt_wallprof_start",
           CHECK(grt_wallprof_start(&(grt_prof_config){.path = path}) == -EBUSY));
  grt_wg_add(&done, 2);
  CHECK(grt_go(naps, NULL) == 0);
  CHECK(grt_go(calls_out, NULL) == 0);
  grt_sleep(3000000000LL);
  atomic_store(&stop, 1);
  pthread_mutex_lock(&ext_mu);
  ext_release = 1;
  pthread_cond_broadcast(&ext_cv);
  pthread_mutex_unlock(&ext_mu);
  grt_wg_wait(&done);
  CHECK(grt_wallprof_stop() == 0);
  ONE_LINE("grt_wallprof_stop", CHECK(grt_wallprof_stop() == -EINVAL));

  struct pprof_raw p;
  pprof_load(path, &p);
  CHECK(strcmp(p.types, "samples/count wall/nanoseconds") == 0);
  int64_t sl, run, ext, other;
  by_state(&p, "naps", &sl, &run, &ext, &other);
  double pct = 100.0 * (double)sl / (double)(sl + run + ext + other);
  double want = 100.0 * (double)nap_ns / (double)nap_total_ns;
  printf("naps: %lld sleep, %lld running, %lld other samples: %.1f%% asleep (it measured %.1f%%)\n",
         (long long)sl, (long long)run, (long long)other, pct, want);
  /* 600 ticks when not starved.  Within 5 points; 10 under qemu-user, whose
   * emulated threads are starved and scheduled in bursts. */
  double tol = test_emulated() ? 10 : 5;
  CHECK(sl + run > 200 && pct > want - tol && pct < want + tol);
  by_state(&p, "calls_out", &sl, &run, &ext, &other);
  printf("calls_out: %lld extcall, %lld other samples\n", (long long)ext,
         (long long)(sl + run + other));
  CHECK(ext > 400 && ext > 20 * (sl + run + other));
  pprof_free(&p);

  /* Cost with 10,000 parked goroutines. */
  grt_wg_add(&done, PARKED);
  for (int i = 0; i < PARKED; i++)
    CHECK(grt_go(parked, NULL) == 0);
  grt_sleep(200000000);
  CHECK(grt_wallprof_start(&(grt_prof_config){.path = pprof_path("parked.pb.gz")}) == 0);
  /* The first ticks read every stack once (a tick reaches a tenth of them):
   * the cost is the steady state's. */
  grt_sleep(1500000000);
  /* Three windows of 700 ms; the cost is the cheapest window's (a burst
   * of other load on the machine inflates one, not all three). */
  struct wallprof_stats st0, st, sum = {0};
  double cost = 1e9, ns_per_g = 0;
  for (int w = 0; w < 3; w++) {
    wallprof_stats(&st0);
    int64_t t0 = grt_nanotime();
    grt_sleep(700000000LL);
    wallprof_stats(&st);
    int64_t wall_ns = grt_nanotime() - t0;
    st.cpu_ns -= st0.cpu_ns;
    st.ticks -= st0.ticks;
    st.goroutine_samples -= st0.goroutine_samples;
    st.stacks_read -= st0.stacks_read;
    double c = 100.0 * (double)st.cpu_ns / (double)wall_ns;
    if (c < cost) {
      cost = c;
      ns_per_g = (double)st.cpu_ns / (double)(st.goroutine_samples ? st.goroutine_samples : 1);
    }
    sum.ticks += st.ticks;
    sum.goroutine_samples += st.goroutine_samples;
    sum.stacks_read += st.stacks_read;
  }
  st = sum;
  CHECK(grt_wallprof_stop() == 0);
  printf("%d parked goroutines at 100 Hz: %llu ticks, %llu goroutine samples, %llu stacks read, "
         "%.2f%% of a CPU in the cheapest of 3 windows (%.0f ns a goroutine a tick)\n",
         PARKED, (unsigned long long)st.ticks, (unsigned long long)st.goroutine_samples,
         (unsigned long long)st.stacks_read, cost, ns_per_g);
  CHECK(st.ticks >= 100 && st.goroutine_samples >= 100ull * 1000); /* the per-tick cap */
  CHECK(st.stacks_read < st.goroutine_samples / 100);              /* from the cache */
  /* The cost is printed, not checked (tests do not assert on speed): a G
   * not read since the last tick costs a cache and TLB miss, memory
   * latency that other tenants of the machine multiply.  On a quiet VM it
   * was 0.6-2.7% (45-270 ns a G); on a busy one 4-6% (perf: 88% of the
   * tick in the first load from each G).  What is checked is what bounds
   * it: the per-tick cap above, and stacks read only when they moved. */
  printf("cost: %.2f%% of a CPU (issue 14's aim: under 2%%)\n", cost);
  pprof_load(pprof_path("parked.pb.gz"), &p);
  int64_t n = 0;
  for (int i = 0; i < p.nsamples; i++)
    if (pprof_find_fn(&p, &p.samples[i], "parked", 0) >= 0 &&
        strstr(p.samples[i].labels, "state:[chan receive]"))
      n += p.samples[i].count;
  printf("parked: %lld samples in chan receive\n", (long long)n);
  CHECK(n >= 100LL * PARKED);
  pprof_free(&p);
  grt_chan_close(never);
  grt_wg_wait(&done);

  ONE_LINE("grt_wallprof_start",
           CHECK(grt_wallprof_start(&(grt_prof_config){.path = path, .hz = 1001}) == -EINVAL));
  ONE_LINE("grt_wallprof_start", CHECK(grt_wallprof_start(NULL) == -EINVAL));
  pprof_tmpdir_remove();
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
