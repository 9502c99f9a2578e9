/*
 * sampler.c - starting and stopping the sampler (Go's SetCPUProfileRate),
 * draining its rings for the collector, fork, and the hooks the runtime
 * calls as Ms come and go and goroutines take label references.
 *
 * Runs in normal code only.  Invariants:
 *  - A session is identified by its gen (never 0).  Every ring record
 *    carries the gen it was taken in; the collector drops other gens, so a
 *    signal that lands after a session's final drain cannot leak into the
 *    next session.
 *  - The switch ranges are copied into the handler's state before gen is
 *    published; sampler_stop publishes gen 0 and then waits for in_handler
 *    to reach 0 (both seq_cst), so every sample taken in the session is in
 *    a ring before the final drain.
 *  - Callers serialize start and stop (pprof/cpuprof.c holds its lock).
 */
#define _GNU_SOURCE
#include "sampler/sampler.h"

#include "base/unwind.h"

#include "sampler/labels.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

static uint32_t last_gen;
static enum cputimer_engine want_engine = CPUTIMER_AUTO, got_engine = CPUTIMER_TIMER;
static bool debug_engine; /* say once why perf was refused (GRT_DEBUG=profiler) */

void sampler_set_engine(enum cputimer_engine e) {
  want_engine = e;
}

void sampler_debug_engine(bool on) {
  debug_engine = on;
}

enum cputimer_engine sampler_engine(void) {
  return got_engine;
}

/* fork(2) with SIGPROF arriving every tick can restart forever (the
 * kernel restarts a fork interrupted by a signal): block it in the forking
 * thread, as Go does.  The child has no timers; it starts with sampling
 * off. */
static __thread sigset_t fork_saved_mask;
static void fork_prepare(void) {
  sigset_t prof_only;
  sigemptyset(&prof_only);
  sigaddset(&prof_only, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &prof_only, &fork_saved_mask);
}
static void fork_parent(void) {
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}
static void fork_child(void) {
  atomic_store(&sigprof.gen, 0);
  atomic_store(&sigprof.in_handler, 0);
  signal(SIGPROF, SIG_IGN);
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

static void register_fork(void) {
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The program's SIGPROF disposition while no profile runs: restored at
 * stop, with SIG_DFL made SIG_IGN (as Go does: a signal still pending must
 * not kill the process).  Under the caller's start/stop serialization. */
static struct sigaction program_sigprof = {.sa_handler = SIG_IGN};

void sampler_init_signal(void) {
  struct sigaction old;
  if (sigaction(SIGPROF, NULL, &old) != 0) return;
  /* A handler the program set (or SIG_IGN) before grt_main stays. */
  if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) return;
  signal(SIGPROF, SIG_IGN);
}

uint32_t sampler_start(int hz) {
  /* The walker's tables for every object loaded now; the collector keeps
   * them current (unw_stale).  Without memory for them, the walk falls
   * back to frame-pointer steps: the profile is poorer, never wrong. */
  unw_refresh();
  cputimer_set_period(1000000000 / hz);
  const char *why;
  got_engine = cputimer_choose_engine(want_engine, &why);
  static bool said;
  if (why && (debug_engine || want_engine == CPUTIMER_PERF) && !said) {
    said = true;
    warn_line("grt: CPU profiler: perf_event_open refused (%s): sampling with CPU timers", why);
  }
  const grt_code_range *ranges;
  int n = grt_switch_ranges(&ranges);
  if (n > (int)(sizeof sigprof.switch_ranges / sizeof *sigprof.switch_ranges))
    warn_fatal("more switch routines than the sampler knows of");
  memcpy(sigprof.switch_ranges, ranges, (size_t)n * sizeof *ranges);
  sigprof.nswitch_ranges = n;
  if (++last_gen == 0) last_gen = 1;

  struct sigaction sa = {.sa_sigaction = sigprof_handler,
                         .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART};
  sigemptyset(&sa.sa_mask);
  struct sigaction old;
  if (sigaction(SIGPROF, &sa, &old) == 0 &&
      !((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == sigprof_handler)) {
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) old.sa_handler = SIG_IGN;
    program_sigprof = old;
  }
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, register_fork);
  cputimer_unsampled_reset();
  atomic_store(&sigprof.gen, last_gen);
  cputimer_set_all(last_gen);
  return last_gen;
}

void sampler_stop(void) {
  atomic_store(&sigprof.gen, 0);
  cputimer_set_all(0);
  while (atomic_load(&sigprof.in_handler) != 0)
    sched_yield();
}

void sampler_restore_signal(void) {
  sigaction(SIGPROF, &program_sigprof, NULL);
}

bool sampler_drain(ring_sink sink, void *ctx, uint64_t *lost) {
  for (struct m *mp = sched_allm(); mp; mp = mp->alllink) {
    struct prof_ring *r = atomic_load_explicit(&mp->prof_ring, memory_order_acquire);
    if (r && !ring_drain(r, sink, ctx, lost)) return false;
  }
  shared_drain(sink, ctx);
  *lost += atomic_exchange(&sigprof.lost_no_ring, 0) + atomic_exchange(&sigprof.lost_shared, 0);
  return true;
}

static void retain_hook(grt_labels *l) {
  labels_retain(l);
}

static const struct sched_hooks hooks = {
    .m_started = cputimer_m_started,
    .m_exiting = cputimer_m_exiting,
    .labels_retain = retain_hook,
    .labels_release = grt_labels_release,
};

const struct sched_hooks *sampler_hooks(void) {
  return &hooks;
}
