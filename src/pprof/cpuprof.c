/*
 * cpuprof.c - the CPU profile: grt_prof_start / grt_prof_stop, and the
 * collector thread that drains the sampler's rings every 100 ms,
 * aggregates the samples by (stack, labels) into a pprof writer, and on
 * stop symbolizes and writes the gzipped profile (Go's StartCPUProfile
 * and its writer, above the runtime's SetCPUProfileRate: src/sampler/).
 *
 * Invariants:
 *  - prof.ctl serializes start and stop (normal code only).  While a
 *    session runs, the collector thread owns prof.w and prof.lost; stop
 *    uses them after joining it.
 *  - The collector never takes SIGPROF: it is created with every signal
 *    blocked.  Its own (small) CPU is not in profiles.
 *  - A record whose gen is not the session's is a late signal of an
 *    earlier session: dropped, its label reference released.
 */
#define _GNU_SOURCE
#include "pprof/cpuprof.h"

#include "pprof/pprof.h"
#include "pprof/symbolize.h"
#include "sampler/labels.h"
#include "base/unwind.h"
#include "sampler/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PROF_DEFAULT_HZ 100
#define COLLECT_NS 100000000 /* collector period */

static struct {
  pthread_mutex_t ctl; /* start / stop (normal code only) */
  bool running;        /* under ctl */
  uint32_t session;    /* gen of the current session (under ctl) */
  _Atomic bool stall;  /* test hook: the collector does not drain */
  /* Collector (its thread owns w and lost while running). */
  pthread_t collector;
  struct note collector_stop;
  pprof_writer *w;
  symbolizer *live_sym; /* names samples while their modules are loaded (NULL: none) */
  uint64_t lost;
  int64_t start_ns; /* CLOCK_MONOTONIC */
  int fd;
  bool close_fd;
} prof = {.ctl = PTHREAD_MUTEX_INITIALIZER};

/* The sampler's ring_sink. */
static void add_sample(void *ctx, uint32_t gen, uintptr_t *pcs, int n, uint64_t weight,
                       grt_labels *labels) {
  (void)ctx;
  /* gen differs for a late signal of an earlier session: dropped. */
  if (gen == prof.session &&
      pprof_writer_add(prof.w, pcs, n, labels_kv(labels), (int64_t)weight) != 0)
    prof.lost += weight;
  grt_labels_release(labels); /* the handler's reference */
}

static void drain_all(void) {
  if (!sampler_drain(add_sample, NULL, &prof.lost)) warn_fatal("grt: profiler ring corrupted");
  /* A library unloaded before the write keeps the names it had: its pcs
   * are named now (out of memory: at the write, if still loaded). */
  if (prof.live_sym) pprof_writer_name_new(prof.w, prof.live_sym);
}

static void *collector_main(void *unused) {
  (void)unused;
  pid_t self = (pid_t)syscall(SYS_gettid);
  for (;;) {
    cputimer_scan_foreign(self);
    unw_refresh(); /* tables for objects dlopened since: a counter check when none */
    note_sleep(&prof.collector_stop, nanotime() + COLLECT_NS);
    if (atomic_load_explicit(&prof.collector_stop.key, memory_order_acquire)) return NULL;
    if (!atomic_load_explicit(&prof.stall, memory_order_relaxed)) drain_all();
  }
}

void prof_test_stall_collector(bool stall) {
  atomic_store(&prof.stall, stall);
}

uint64_t prof_test_handled_weight(void) {
  return atomic_load(&sigprof.handled);
}

uint64_t prof_test_foreign_signals(void) {
  return atomic_load(&sigprof.foreign);
}

/* ---- start / stop --------------------------------------------------------- */

static void stop_at_exit(void *unused);
static void atexit_stop(void) {
  /* On whatever stack exit(3) was called from: symbolizing needs g0's. */
  sched_systemstack(stop_at_exit, NULL);
}
/* The child of a fork has no collector: it starts with profiling off
 * (the sampler stops its signals). */
static void fork_child(void) {
  prof.running = false;
  pthread_mutex_init(&prof.ctl, NULL);
}

static void register_hooks(void) {
  atexit(atexit_stop);
  pthread_atfork(NULL, NULL, fork_child);
}

static int start_locked(const grt_prof_config *cfg) {
  if (prof.running) return -EBUSY;
  int hz = cfg->hz == 0 ? PROF_DEFAULT_HZ : cfg->hz;
  if (hz < 0 || hz > SAMPLER_MAX_HZ) return -EINVAL;
  if (!cfg->path && cfg->fd < 0) return -EINVAL;
  int fd = cfg->fd;
  if (cfg->path) {
    fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
  }
  prof.w = pprof_writer_new(1000000000 / hz, realtime_ns());
  if (!prof.w) {
    if (cfg->path) close(fd);
    return -ENOMEM;
  }
  prof.live_sym = symbolize_open(); /* NULL: names only at the write */
  prof.fd = fd;
  prof.close_fd = cfg->path != NULL;
  prof.lost = 0;
  prof.start_ns = nanotime();
  note_clear(&prof.collector_stop);
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, register_hooks);
  prof.session = sampler_start(hz);
  prof.running = true;

  /* The collector must not take SIGPROF: block every signal while it is
   * created, so it starts with all of them blocked. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&prof.collector, NULL, collector_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    sampler_stop();
    prof.running = false;
    pprof_writer_free(prof.w);
    prof.w = NULL;
    if (prof.live_sym) symbolize_close(prof.live_sym);
    prof.live_sym = NULL;
    if (cfg->path) close(fd);
    return -err;
  }
  return 0;
}

int cpuprof_start(const grt_prof_config *cfg) {
  if (sched_forked()) return sched_forked_refuse("grt_prof_start");
  if (!cfg) return -EINVAL;
  pthread_mutex_lock(&prof.ctl);
  int r = start_locked(cfg);
  pthread_mutex_unlock(&prof.ctl);
  return r;
}

int grt_prof_start(const grt_prof_config *cfg) {
  int r = cpuprof_start(cfg);
  /* Misuse gets its line; an open(2) error is the caller's to report. */
  if (r == -EBUSY)
    warn_line("grt: grt_prof_start: a CPU profile is already running");
  else if (r == -EINVAL)
    warn_line("grt: grt_prof_start: %s",
              !cfg ? "cfg is NULL"
              : cfg->hz < 0 || cfg->hz > SAMPLER_MAX_HZ
                  ? "hz is outside 0..10000"
                  : "neither a path nor a file descriptor (fd >= 0) to write to");
  return r;
}

static int stop_locked(void) {
  if (!prof.running) return -EINVAL;
  prof.running = false;
  sampler_stop();
  note_wakeup(&prof.collector_stop);
  pthread_join(prof.collector, NULL);
  cputimer_foreign_stop();
  /* Handlers that took a foreign timer's signal before it was deleted
   * have finished: gen was 0 for them, or in_handler covered them. */
  drain_all(); /* everything the session recorded */
  /* A signal still pending after this is dropped, not fatal (or goes to
   * the program's own handler, if it had one). */
  sampler_restore_signal();
  if (prof.lost) {
    uintptr_t lost_pc = PROF_PC_LOST;
    pprof_writer_add(prof.w, &lost_pc, 1, NULL, (int64_t)prof.lost);
  }
  /* Threads that got no CPU timer: what the samples cannot show. */
  char note[512];
  if (cputimer_unsampled_note(note, sizeof note) > 0) pprof_writer_comment(prof.w, note);
  int64_t duration = nanotime() - prof.start_ns;
  symbolizer *sym = symbolize_open(); /* NULL: addresses only */
  int err = pprof_writer_write(prof.w, sym, duration, prof.fd);
  if (sym) symbolize_close(sym);
  pprof_writer_free(prof.w);
  prof.w = NULL;
  if (prof.live_sym) symbolize_close(prof.live_sym);
  prof.live_sym = NULL;
  if (prof.close_fd && close(prof.fd) != 0 && err == 0) err = -errno;
  return err;
}

static void *stop_call(void *result) {
  pthread_mutex_lock(&prof.ctl);
  *(int *)result = stop_locked();
  pthread_mutex_unlock(&prof.ctl);
  return NULL;
}

int cpuprof_stop(void) {
  int r = 0;
  /* On a goroutine, symbolizing and writing must not hold the P. */
  if (getcurg())
    grt_extcall(stop_call, &r);
  else
    stop_call(&r);
  return r;
}

int grt_prof_stop(void) {
  int r = cpuprof_stop();
  if (r == -EINVAL) warn_line("grt: grt_prof_stop: no CPU profile is running");
  return r;
}

static void stop_at_exit(void *unused) {
  (void)unused;
  /* Another thread inside start or stop while the process exits: leave it. */
  if (pthread_mutex_trylock(&prof.ctl) != 0) return;
  if (prof.running) {
    int err = stop_locked();
    if (err) warn_line("grt: writing the CPU profile at exit failed: %s", strerror(-err));
  }
  pthread_mutex_unlock(&prof.ctl);
}
