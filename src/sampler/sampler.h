/*
 * sampler.h - the CPU sampler, the signal-safe layer between the runtime
 * and the profile writers.  Its parts, one execution context each:
 *   sigprof.c   the SIGPROF handler: the decision table and the unwinder
 *   ring.c      the per-M rings and shared slots (handler -> collector)
 *   cputimer.c  per-thread CPU timers, for Ms and for foreign threads
 *   sampler.c   start and stop, fork, and the hooks the runtime calls
 *   labels.c    label sets, referenced by goroutines and by samples
 * The collector that drains the rings and writes pprof is above, in
 * src/pprof/cpuprof.c (Go's split: SetCPUProfileRate in the runtime,
 * StartCPUProfile and the writer in runtime/pprof).
 */
#ifndef GRT_SAMPLER_H
#define GRT_SAMPLER_H

#include "runtime/runtime.h"
#include "sampler/ring.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SAMPLER_MAX_HZ 10000

/* ---- sigprof.c: what the handler reads ----
 * Written by sampler.c in normal code; the handler only reads gen and the
 * switch ranges, and adds to the counters. */
struct sigprof_state {
  _Atomic uint32_t gen;          /* current session, 0 when off: the handler's switch */
  _Atomic int32_t in_handler;    /* handlers past their gen check */
  _Atomic uint64_t lost_no_ring; /* weight of samples on Ms without a ring */
  _Atomic uint64_t lost_shared;  /* weight dropped: every shared slot busy */
  _Atomic uint64_t handled;      /* weight of every sample taken in any session */
  _Atomic uint64_t foreign;      /* SIGPROFs not from a kernel timer or perf event: dropped */
  _Atomic uint64_t delivered;    /* signals that made a sample (unweighted) */
  /* Set once a timer id shows that signals do not carry it (qemu-user:
   * cputimer.c): the handler cannot tell an M's own timer from another
   * and takes every kernel timer's SIGPROF. */
  _Atomic bool timerid_opaque;
  grt_code_range switch_ranges[8];
  int nswitch_ranges;
};
extern struct sigprof_state sigprof;
void sigprof_handler(int sig, siginfo_t *si, void *uc);

/* ---- cputimer.c ---- */
void cputimer_set_period(int64_t period_ns);
enum cputimer_engine { CPUTIMER_AUTO, CPUTIMER_PERF, CPUTIMER_TIMER };
/* The session's engine (after cputimer_set_period): want (AUTO: timers up
 * to the kernel's tick rate, 250 Hz; above, perf if the kernel lets this
 * thread open a task-clock event, else timers).  *why: why perf was
 * refused, or NULL. */
enum cputimer_engine cputimer_choose_engine(enum cputimer_engine want, const char **why);
void cputimer_test_refuse_perf(bool refuse); /* test hook: perf_event_open fails */
void cputimer_m_started(struct m *mp);       /* sched hooks */
void cputimer_m_exiting(struct m *mp);
void cputimer_set_all(uint32_t gen); /* every M's timer for session gen (0: none) */
/* Threads grt did not create (except self and sysmon) get a timer each;
 * gone ones, and ones that became Ms, lose theirs.  Collector only. */
void cputimer_scan_foreign(pid_t self);
/* Threads that got no source this session (timer_create's EAGAIN...):
 * reset at a session's start; at its end, their count, and if any, a
 * line for the profile's comments in buf (cut at cap). */
void cputimer_unsampled_reset(void);
int cputimer_unsampled_note(char *buf, size_t cap);
void cputimer_foreign_stop(void);

/* ---- sampler.c ---- */
/* Starts sampling every thread at hz (1..SAMPLER_MAX_HZ): installs the
 * handler and arms the timers.  Returns the session's gen (never 0). */
uint32_t sampler_start(int hz);
/* The engine sampler_start uses (GRT_CPUPROFILE_ENGINE, read by grt_main)
 * and the one the last session got. */
void sampler_set_engine(enum cputimer_engine e);
void sampler_debug_engine(bool on); /* GRT_DEBUG=profiler: say why perf was refused */
enum cputimer_engine sampler_engine(void);
/* No new samples; timers deleted; every handler in flight has finished,
 * so every sample of the session is in a ring. */
void sampler_stop(void);
/* At grt_main: SIGPROF ignored until a profile starts, unless the program
 * set its own disposition before (then it stays). */
void sampler_init_signal(void);
/* After the final drain: the disposition from before sampler_start comes
 * back, SIG_IGN if it was SIG_DFL, so a SIGPROF still pending is dropped. */
void sampler_restore_signal(void);
/* Every ring and shared slot through sink; *lost += weight lost so far.
 * false: a ring is corrupted. */
bool sampler_drain(ring_sink sink, void *ctx, uint64_t *lost);
/* The hooks grt_main registers with the runtime (sched_set_hooks). */
const struct sched_hooks *sampler_hooks(void);

#endif
