/*
 * unwind_cost: what a CPU profile sample costs, in parts (issue 11's
 * benchmarks).  Printed, never asserted; `bench/unwind_cost.sh` runs it a
 * few times and prints the medians (bench/README.md, "Unwinder cost").
 *
 *  1. The walk.  A thread with a known stack calls a chain of frames 10 or
 *     40 deep, built with frame pointers (chain_fp, this file) or without
 *     (chain_nofp, lib/unwind_chain_nofp.c, -fomit-frame-pointer), and
 *     takes pc, sp and fp at an exact point of the innermost frame.  While
 *     the frames are live it times unw_walk (base/unwind.h, the handler's
 *     walker, inlined here as in the handler) from those registers to the
 *     thread's base, many times: ns per walk.  The frame-pointer chain is
 *     also walked with the tables unpublished (unw_tables = NULL): every
 *     step a frame-pointer step, grt's walk before the CFI tables.  Warm
 *     caches: the handler's own walks are colder.
 *     1b: the same walk of real stacks: a per-thread CPU timer's handler
 *     walks the interrupted context (its frames live while it runs) 20
 *     times, timed (the first, colder, apart), while the thread runs zlib's compress2 or glibc's
 *     qsort with a comparator, 10 frames deep: libraries without frame
 *     pointers, whose tables are larger than this program's.
 *  2. Signal delivery.  (a) tgkill(2) of the thread itself with an empty
 *     SA_SIGINFO handler, in a loop: syscall, delivery and sigreturn.
 *     (b) A per-thread CPU timer (timer_create, CLOCK_THREAD_CPUTIME_ID,
 *     SIGEV_THREAD_ID) at 100, 1000 and 4000 Hz while the thread burns a
 *     fixed amount of work 10 frames deep in chain_nofp: the CPU the work
 *     took with an empty handler and with a handler that walks the
 *     interrupted frames (as grt's does), against no timer, divided by the
 *     signals delivered; and how many were delivered per CPU second (the
 *     kernel checks CPU timers once per tick: a faster rate comes as
 *     overruns, one signal standing for several periods).
 *  3. Overhead: (delivery + walk) x rate, at 100, 1000 and 4000 Hz, for
 *     depth 10 and 40, and the same with the delivered rate.
 *  4. The tables: unw_refresh's first build (all loaded objects: this
 *     program, libc, libz, libdw, libelf, libmicrohttpd and theirs, as in
 *     the demo; libgrt.so is dlopened too when GRT_LIB names it), per
 *     module its rows, distinct rules, INVALID rows, bytes, and the time
 *     unw_compile takes for it alone.
 *
 * Lines "RESULT <metric> <value>" carry the numbers for the script.
 * UNWIND_COST_QUICK=1: fewer iterations and no timer runs.
 * UNWIND_COST_ONE="<variant> <depth>": the tables, then only that walk
 * (variant: 0 FP, 1 CFI, 2 FP only, 3 CFI without _dl_find_object), for
 * callgrind (--toggle-collect=walk_n), which unwind_cost.sh runs when
 * valgrind is installed: instructions per walk, without the noise.
 */
#define _GNU_SOURCE
#include "base/unwind.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CHAIN_FN chain_fp
#include "lib/unwind_chain.h"
void chain_nofp(int depth, chain_leaf_fn at_leaf, void *arg);

volatile unsigned long chain_sink;

#define STACK_SIZE (1 << 20)
#define REPS 7
#define MAX_OUT 256

static int quick;
static uintptr_t stack_lo, stack_hi; /* the bench thread's stack */

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) {                                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #x);                        \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- 1. the walk ---- */

struct walk_out {
  int n;
  uintptr_t pcs[MAX_OUT];
};

/* The handler's emitter (sampler/sigprof.c's push_ret). */
static bool emit(void *out, uintptr_t ret) {
  struct walk_out *o = out;
  if (o->n >= MAX_OUT) return false;
  o->pcs[o->n++] = ret - 1;
  return true;
}

struct walk_job {
  long iters;
  bool no_tables;
  double ns;  /* median per walk */
  int frames; /* the leaf and the frames the walk found */
  enum unw_end end;
};

/* Timed walks from regs, noinline so callgrind can count them alone. */
__attribute__((noinline)) void walk_n(const struct chain_regs *r, long iters, struct walk_out *o,
                                      enum unw_end *end) {
  for (long i = 0; i < iters; i++) {
    o->n = 0;
    *end = unw_walk((struct unw_regs){r->pc, r->sp, r->fp, 0}, true, stack_lo, stack_hi,
                    unw_read_direct, NULL, emit, o, NULL);
  }
}

static void time_walks(const struct chain_regs *r, void *arg) {
  struct walk_job *j = arg;
  const struct unw_registry *saved = atomic_load(&unw_tables);
  if (j->no_tables) atomic_store(&unw_tables, NULL);
  struct walk_out o;
  double ns[REPS];
  walk_n(r, j->iters / 10 + 1, &o, &j->end); /* warm up */
  for (int rep = 0; rep < REPS; rep++) {
    int64_t t0 = thread_cpu_ns();
    walk_n(r, j->iters, &o, &j->end);
    ns[rep] = (double)(thread_cpu_ns() - t0) / (double)j->iters;
  }
  if (j->no_tables) atomic_store(&unw_tables, saved);
  j->ns = median(ns, REPS);
  j->frames = o.n + 1;
}

static const char *end_name(enum unw_end e) {
  return e == UNW_END_BASE ? "base" : e == UNW_END_BROKEN ? "BROKEN" : "full";
}

/* The check that a pc's module is still loaded (_dl_find_object, per
 * frame) off or back on: map_start 0 skips it.  The tables are never
 * freed and nothing else runs meanwhile; for variant 3 only. */
static uintptr_t saved_map_start[256];

static void find_object_check(bool on) {
  const struct unw_registry *r = atomic_load(&unw_tables);
  for (uint32_t i = 0; i < r->n && i < 256; i++) {
    struct unw_module *m = (struct unw_module *)r->mods[i];
    if (!on) saved_map_start[i] = m->map_start;
    m->map_start = on ? saved_map_start[i] : 0;
  }
}

enum { V_FP, V_CFI, V_FPONLY, V_CFI_NOCHECK, NVARIANTS };
static const char *const v_names[NVARIANTS] = {
    "frame pointers, CFI tables", "no frame pointers, CFI tables",
    "frame pointers, no tables (FP only)", "no FP, CFI, no _dl_find_object"};
static const char *const v_metrics[NVARIANTS] = {"walk_ns_fp", "walk_ns_cfi", "walk_ns_fponly",
                                                 "walk_ns_cfi_nocheck"};
static const int depths[2] = {10, 40};
static double walk_ns[NVARIANTS][2];

static struct walk_job walk_variant(int v, int depth, long iters) {
  struct walk_job j = {.iters = iters, .no_tables = v == V_FPONLY};
  if (v == V_CFI_NOCHECK) find_object_check(false);
  if (v == V_CFI || v == V_CFI_NOCHECK)
    chain_nofp(depth, time_walks, &j);
  else
    chain_fp(depth, time_walks, &j);
  if (v == V_CFI_NOCHECK) find_object_check(true);
  return j;
}

static void bench_walks(void) {
  printf("1. unw_walk from a captured context to the thread's base (thread CPU time, median of"
         " %d runs, warm caches)\n",
         REPS);
  printf("   %-36s %6s %7s %7s %10s %10s\n", "chain", "depth", "frames", "end", "ns/walk",
         "ns/frame");
  for (int d = 0; d < 2; d++) {
    for (int v = 0; v < NVARIANTS; v++) {
      struct walk_job j = walk_variant(v, depths[d], (quick ? 1000 : 20000) * 10 / depths[d]);
      printf("   %-36s %6d %7d %7s %10.1f %10.1f\n", v_names[v], depths[d], j.frames,
             end_name(j.end), j.ns, j.ns / (j.frames - 1));
      printf("RESULT %s_d%d %.1f\n", v_metrics[v], depths[d], j.ns);
      walk_ns[v][d] = j.ns;
      /* a walk that did not reach the base measured something else */
      CHECK(j.end == UNW_END_BASE && j.frames >= depths[d]);
    }
  }
}

/* ---- 1b. real stacks: contexts interrupted in zlib and in glibc's sort ---- */

#define WALKS_PER_SIGNAL 20

static volatile long rs_signals, rs_frames, rs_broken;
static volatile int64_t rs_ns, rs_first_ns;

/* A per-thread CPU timer's handler that walks the interrupted frames (live
 * while it runs: same thread, same stack) WALKS_PER_SIGNAL times, timed. */
static void timing_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si;
  uintptr_t pc = arch_uc_pc(uc), sp = arch_uc_sp(uc), fp = arch_uc_fp(uc), lr = arch_uc_lr(uc);
  if (sp < stack_lo || sp >= stack_hi) return;
  struct walk_out o;
  enum unw_end end = UNW_END_BASE;
  int64_t ta = thread_cpu_ns(), t0 = thread_cpu_ns(), t1 = 0; /* ta: the clock's own cost */
  for (int i = 0; i < WALKS_PER_SIGNAL; i++) {
    o.n = 0;
    end = unw_walk((struct unw_regs){pc, sp, fp, lr}, true, sp, stack_hi, unw_read_direct, NULL, emit,
                   &o, NULL);
    if (i == 0) t1 = thread_cpu_ns();
  }
  rs_first_ns += (t1 - t0) - (t0 - ta);
  rs_ns += thread_cpu_ns() - t1;
  rs_signals++;
  rs_frames += o.n + 1;
  rs_broken += end != UNW_END_BASE;
}

static int cmp_slow(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b, h = x ^ y;
  for (int i = 0; i < 8; i++)
    h = h * 2654435761u + (unsigned)i;
  chain_sink += h & 1;
  return (x > y) - (x < y);
}

struct real_job {
  int zlib; /* 1: compress2, 0: qsort with a comparator */
  bool no_tables;
  double ns_walk, ns_first, frames, broken;
};

static void real_work(const struct chain_regs *r, void *arg) {
  (void)r;
  struct real_job *j = arg;
  enum { LEN = 64 * 1024, NSORT = 4096 };
  static unsigned char src[LEN], dst[LEN + LEN / 8 + 64];
  static unsigned nums[NSORT];
  unsigned seed = 1;
  for (int i = 0; i < LEN; i++) {
    seed = seed * 1103515245u + 12345u;
    src[i] = (unsigned char)("goroutine stack frame unwind table "[(seed >> 16) % 35]);
  }
  struct sigaction sa = {.sa_sigaction = timing_handler, .sa_flags = SA_SIGINFO | SA_RESTART};
  CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR2};
  ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  timer_t t;
  CHECK(timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &t) == 0);
  struct itimerspec its = {{0, 1000000}, {0, 1000000}};
  rs_signals = rs_frames = rs_broken = 0;
  rs_ns = rs_first_ns = 0;
  const struct unw_registry *saved = atomic_load(&unw_tables);
  if (j->no_tables) atomic_store(&unw_tables, NULL);
  CHECK(timer_settime(t, 0, &its, NULL) == 0);
  int64_t end = thread_cpu_ns() + (quick ? 100 : 800) * 1000000LL;
  do {
    if (j->zlib) {
      uLongf len = sizeof dst;
      CHECK(compress2(dst, &len, src, LEN, 6) == Z_OK);
    } else {
      for (int i = 0; i < NSORT; i++) {
        seed = seed * 1103515245u + 12345u;
        nums[i] = seed >> 8;
      }
      qsort(nums, NSORT, sizeof *nums, cmp_slow);
    }
  } while (thread_cpu_ns() < end);
  timer_delete(t);
  atomic_store(&unw_tables, saved);
  long n = rs_signals ? rs_signals : 1;
  j->ns_walk = (double)rs_ns / (double)(n * (WALKS_PER_SIGNAL - 1));
  j->ns_first = (double)rs_first_ns / (double)n;
  j->frames = (double)rs_frames / (double)n;
  j->broken = (double)rs_broken / (double)n;
}

static void bench_real_stacks(void) {
  printf("\n1b. walks of contexts a CPU timer interrupted, 10 frames deep in chain_nofp: the"
         " first walk in\n    the handler (colder caches), then %d more of the same (warm)\n",
         WALKS_PER_SIGNAL - 1);
  printf("   %-34s %7s %11s %10s %10s %7s\n", "work", "frames", "first walk", "ns/walk", "ns/frame",
         "broken");
  for (int v = 0; v < 4; v++) {
    struct real_job j = {.zlib = v < 2, .no_tables = v & 1};
    chain_nofp(10, real_work, &j);
    static const char *const names[4] = {
        "zlib compress2 (libz: no FP)", "  the same, no tables (FP only)",
        "qsort + comparator (libc: no FP)", "  the same, no tables (FP only)"};
    static const char *const m[4] = {"zlib", "zlib_fponly", "qsort", "qsort_fponly"};
    printf("   %-34s %7.1f %11.1f %10.1f %10.1f %6.1f%%\n", names[v], j.frames, j.ns_first,
           j.ns_walk, j.frames > 1.5 ? j.ns_walk / (j.frames - 1) : 0.0, j.broken * 100);
    printf("RESULT walk_first_ns_%s %.1f\nRESULT walk_ns_%s %.1f\nRESULT frames_%s %.1f\n", m[v],
           j.ns_first, m[v], j.ns_walk, m[v], j.frames);
  }
}

/* ---- 2. signal delivery ---- */

static volatile long signals, overruns;

static void empty_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)uc;
  signals++;
  overruns += si->si_overrun;
}

/* As grt's handler: walk the interrupted frames (leaf exact). */
static void walk_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  signals++;
  overruns += si->si_overrun;
  uintptr_t pc = arch_uc_pc(uc), sp = arch_uc_sp(uc), fp = arch_uc_fp(uc), lr = arch_uc_lr(uc);
  if (sp < stack_lo || sp >= stack_hi) return;
  struct walk_out o;
  o.n = 0;
  unw_walk((struct unw_regs){pc, sp, fp, lr}, true, sp, stack_hi, unw_read_direct, NULL, emit, &o,
           NULL);
  chain_sink += (unsigned long)o.n;
}

static double tgkill_ns, tgkill_walk_ns;

struct kill_job {
  void (*handler)(int, siginfo_t *, void *);
  double ns;
};

/* tgkill to itself in a loop, 10 frames deep in chain_nofp. */
static void kill_loop(const struct chain_regs *r, void *arg) {
  (void)r;
  struct kill_job *j = arg;
  struct sigaction sa = {.sa_sigaction = j->handler, .sa_flags = SA_SIGINFO | SA_RESTART};
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
  long n = quick ? 2000 : 50000;
  double ns[REPS];
  for (int rep = 0; rep < REPS; rep++) {
    int64_t t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++)
      syscall(SYS_tgkill, pid, tid, SIGUSR1);
    ns[rep] = (double)(thread_cpu_ns() - t0) / (double)n;
  }
  j->ns = median(ns, REPS);
}

static void bench_tgkill(void) {
  struct kill_job e = {.handler = empty_handler}, w = {.handler = walk_handler};
  chain_nofp(10, kill_loop, &e);
  chain_nofp(10, kill_loop, &w);
  tgkill_ns = e.ns;
  tgkill_walk_ns = w.ns;
  printf("\n2a. tgkill to itself in a loop, 10 frames deep (no frame pointers): %.0f ns per"
         " signal with an\n    empty handler (syscall, delivery, sigreturn), %.0f ns with a"
         " handler that walks the\n    interrupted frames (+%.0f ns)\n",
         tgkill_ns, tgkill_walk_ns, tgkill_walk_ns - tgkill_ns);
  printf("RESULT signal_tgkill_ns %.0f\nRESULT signal_tgkill_walk_ns %.0f\n", tgkill_ns,
         tgkill_walk_ns);
}

struct burn_job {
  int hz;    /* 0: no timer */
  int which; /* 0 empty handler, 1 walking handler */
  long work;
  int64_t cpu_ns;
  long signals, overruns;
};

static void burn_at_leaf(const struct chain_regs *r, void *arg) {
  (void)r;
  struct burn_job *j = arg;
  timer_t t = 0;
  if (j->hz) {
    struct sigaction sa = {.sa_sigaction = j->which ? walk_handler : empty_handler,
                           .sa_flags = SA_SIGINFO | SA_RESTART};
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR2};
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    CHECK(timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &t) == 0);
    long period = 1000000000L / j->hz;
    struct itimerspec its = {{0, period}, {0, period}};
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
  }
  signals = overruns = 0;
  int64_t c0 = thread_cpu_ns();
  unsigned long x = 1;
  for (long i = 0; i < j->work; i++)
    x = x * 6364136223846793005u + (unsigned long)i;
  chain_sink += x;
  j->cpu_ns = thread_cpu_ns() - c0;
  j->signals = signals;
  j->overruns = overruns;
  if (j->hz) timer_delete(t);
}

static double delivered_hz[3];
static const int rates[3] = {100, 1000, 4000};

static void bench_timer(void) {
  long work = 400000000; /* about 0.4 s of CPU here */
  printf("\n2b. a per-thread CPU timer (walking handler) while the thread burns, 10 frames deep:"
         "\n    signals delivered per CPU second, and the periods each stands for (1 +"
         " si_overrun)\n");
  printf("   %6s %12s %14s\n", "rate", "delivered/s", "signal weight");
  for (int k = 0; k < 3; k++) {
    double del[3], weight[3];
    for (int rep = 0; rep < 3; rep++) {
      struct burn_job w = {.hz = rates[k], .which = 1, .work = work};
      chain_nofp(10, burn_at_leaf, &w);
      del[rep] = (double)w.signals * 1e9 / (double)w.cpu_ns;
      weight[rep] = w.signals ? (double)(w.signals + w.overruns) / (double)w.signals : 0;
    }
    delivered_hz[k] = median(del, 3);
    printf("   %6d %12.0f %14.2f\n", rates[k], delivered_hz[k], median(weight, 3));
    printf("RESULT timer_delivered_hz_%d %.0f\n", rates[k], delivered_hz[k]);
  }
}

/* ---- 3. overhead ---- */

static void overhead(void) {
  /* the delivery cost: tgkill's round trip (the steadiest figure) */
  printf("\n3. cost per sample = delivery (%.0f ns, 2a) + walk (1), and the CPU overhead it"
         " makes:\n   rate x cost (nominal), delivered rate (2b) x cost (delivered)\n",
         tgkill_ns);
  printf("   %-26s %6s %10s %10s %10s %10s\n", "code", "depth", "ns/sample", "100 Hz", "1000 Hz",
         "4000 Hz");
  static const char *const names[2] = {"frame pointers", "no frame pointers (CFI)"};
  for (int kind = 0; kind < 2; kind++)
    for (int d = 0; d < 2; d++) {
      double cost = tgkill_ns + walk_ns[kind][d];
      printf("   %-26s %6d %10.0f", names[kind], depths[d], cost);
      for (int k = 0; k < 3; k++)
        printf(" %9.3f%%", cost * rates[k] / 1e7);
      printf("\n");
      if (!quick) {
        printf("   %-26s %6s %10s", "  at the delivered rate", "", "");
        for (int k = 0; k < 3; k++)
          printf(" %9.3f%%", cost * delivered_hz[k] / 1e7);
        printf("\n");
      }
      printf("RESULT sample_ns_%s_d%d %.0f\n", kind ? "cfi" : "fp", depths[d], cost);
    }
}

/* ---- 4. the tables ---- */

struct compile_time {
  const char *name;
  double ns;
};

static int time_compile(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const struct unw_registry *r = arg;
  for (uint32_t i = 0; i < r->n; i++) {
    const struct unw_module *m = r->mods[i];
    if (m->base != info->dlpi_addr) continue;
    double ns[5];
    for (int rep = 0; rep < 5; rep++) {
      struct unw_module t;
      memset(&t, 0, sizeof t);
      int64_t t0 = mono_ns();
      int err = unw_compile(&t, info);
      ns[rep] = (double)(mono_ns() - t0);
      if (err == 0) unw_module_free(&t);
    }
    const char *slash = strrchr(m->name, '/');
    printf("   %-28s %8u %6u %8u %9.1f %9.0f\n", slash ? slash + 1 : m->name, m->n, m->nrules,
           m->invalid, (double)m->bytes / 1024, median(ns, 5) / 1000);
  }
  return 0;
}

static void bench_tables(void) {
  const char *lib = getenv("GRT_LIB");
  if (lib && !dlopen(lib, RTLD_NOW | RTLD_LOCAL))
    printf("(could not load %s: %s)\n", lib, dlerror());
  CHECK(unw_refresh() == 0);
  struct unw_stats st;
  unw_get_stats(&st);
  printf("\n4. CFI tables of the loaded objects: %u modules, %u rows, %u rules, %u INVALID rows,"
         " %.1f KiB; first build %.2f ms\n",
         st.modules, st.rows, st.rules, st.invalid_rows, (double)st.bytes / 1024,
         (double)st.build_ns / 1e6);
  printf("RESULT tables_kib %.1f\nRESULT tables_build_ms %.2f\n", (double)st.bytes / 1024,
         (double)st.build_ns / 1e6);
  printf("   %-28s %8s %6s %8s %9s %9s\n", "module", "rows", "rules", "INVALID", "KiB", "build us");
  dl_iterate_phdr(time_compile, (void *)atomic_load(&unw_tables));
}

/* ---- the bench thread ---- */

static void *bench_thread(void *arg) {
  (void)arg;
  const char *one = getenv("UNWIND_COST_ONE");
  if (one) {
    /* one variant only, for callgrind (--toggle-collect=walk_n) */
    int v = 0, d = 0;
    CHECK(sscanf(one, "%d %d", &v, &d) == 2 && v >= 0 && v < NVARIANTS && d > 0);
    long iters = 1000;
    struct walk_job j = walk_variant(v, d, iters);
    CHECK(j.end == UNW_END_BASE);
    printf("RESULT walks_total %ld\nRESULT frames %d\n", iters / 10 + 1 + REPS * iters, j.frames);
    return NULL;
  }
  bench_walks();
  bench_real_stacks();
  bench_tgkill();
  if (!quick) bench_timer();
  overhead();
  return NULL;
}

int main(void) {
  quick = getenv("UNWIND_COST_QUICK") != NULL;
  (void)zlibVersion(); /* libz stays loaded, as in the demo */
  /* tables first: the walks use them */
  bench_tables();
  void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(stack != MAP_FAILED);
  stack_lo = (uintptr_t)stack;
  stack_hi = stack_lo + STACK_SIZE;
  pthread_attr_t a;
  pthread_attr_init(&a);
  CHECK(pthread_attr_setstack(&a, stack, STACK_SIZE) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, &a, bench_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  return 0;
}
