/*
 * sigprof.c - the SIGPROF handler: the decision table, the unwinder's
 * segment and record walks, and handing the sample to a ring.  Everything
 * in this file runs in the signal handler, on the interrupted thread's
 * signal stack.
 *
 * Invariants (tests/sigsafe.sh checks the undefined symbols of this object
 * and of ring.o against a short allowlist):
 *  - Nothing here allocates, takes a lock or calls stdio; errno is saved
 *    and restored.
 *  - It reads only: TLS g, the M structs (never freed), its own M's g0 and
 *    curg (which cannot exit, nor have their G records freed, while this
 *    thread is interrupted), its own state (struct sigprof_state: the
 *    switch ranges are copied at start,
 *    before gen is published), and stack memory inside the bounds of a
 *    stack in use on its own thread (g0's, or m->curg's), checked before
 *    every read (base/unwind.h), and the walker's published tables.
 *  - Transition records are followed only when they lie inside one of
 *    those two stacks and describe one of them; a record whose frame is
 *    below the interrupted SP on the same stack is stale (its call has
 *    returned) and is skipped.
 *  - in_handler is raised before gen is read and lowered last, so
 *    sampler_stop (gen = 0, then wait for in_handler == 0, both seq_cst)
 *    knows every sample of the session is in a ring.
 *
 * The decision table (docs/design.md, "The decision table") is take_sample,
 * row by row.
 */
#define _GNU_SOURCE
#include "sampler/sampler.h"

#include "base/unwind.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sigprof_state sigprof;

/* Appends pc; false when the stack is full (then marks it truncated). */
static bool push(struct ring_sample *s, uintptr_t pc) {
  if (s->n >= PROF_MAX_FRAMES) {
    s->pcs[PROF_MAX_FRAMES] = PROF_PC_TRUNCATED;
    s->n = PROF_MAX_FRAMES + 1;
    return false;
  }
  s->pcs[s->n++] = pc;
  return true;
}

/* The walker's emitter: a return address becomes its call site. */
static bool push_ret(void *out, uintptr_t ret) {
  return push(out, ret - 1);
}

static bool in_switch_code(uintptr_t pc) {
  for (int i = 0; i < sigprof.nswitch_ranges; i++)
    if (pc >= sigprof.switch_ranges[i].start && pc < sigprof.switch_ranges[i].end) return true;
  return false;
}

/* One segment: pc (exact when leaf, else a return address; sp the SP at
 * it; lr the link register of an interrupted frame, else 0), then its
 * callers within [lo, hi).  *top: the highest SP reached. */
__attribute__((no_sanitize_address)) static enum unw_end
walk_segment(struct ring_sample *s, uintptr_t pc, bool leaf, uintptr_t fp, uintptr_t sp,
             uintptr_t lr, uintptr_t lo, uintptr_t hi, uintptr_t *top) {
  *top = sp;
  if (!push(s, leaf ? pc : pc - 1)) return UNW_END_FULL;
  return unw_walk((struct unw_regs){pc, sp, fp, lr}, leaf, lo, hi, unw_read_direct, NULL, push_ret,
                  s, top);
}

/* Is rec a record the handler may read and follow: inside g0's or curg's
 * stack, aligned, and describing frames on one of those two stacks? */
static bool record_ok(const struct transition *rec, const struct g *g0, const struct g *curg) {
  uintptr_t r = (uintptr_t)rec;
  if (r & 7) return false;
  bool on_g0 = unw_inside(r, sizeof *rec, g0->stack_lo, g0->stack_hi);
  bool on_curg = curg && unw_inside(r, sizeof *rec, curg->stack_lo, curg->stack_hi);
  if (!on_g0 && !on_curg) return false;
  if (rec->kind != TRANS_EXTCALL && rec->kind != TRANS_CALLBACK) return false;
  if (rec->lo == g0->stack_lo && rec->hi == g0->stack_hi) return true;
  return curg && rec->lo == curg->stack_lo && rec->hi == curg->stack_hi;
}

/* Follows the transition records from rec outward, one segment each:
 * goroutine frames below an extcall, external frames below a callback...
 * lo is the interrupted segment's and top the highest SP its walk reached:
 * records on that stack below top are skipped, either stale (below the
 * interrupted SP: their call has returned, the record not yet unpublished)
 * or describing frames the walk went through already (runtime work that a
 * callback does on g0, right below the external frames that called it).
 * Every segment ends at its base (the goroutine entry, a trampoline's
 * call, a thread's start), so one whose walk broke off lost frames:
 * *broken.
 * Returns false when the sample is full. */
__attribute__((no_sanitize_address)) static bool walk_records(struct ring_sample *s,
                                                              const struct transition *rec,
                                                              struct m *mp, uintptr_t top,
                                                              uintptr_t lo, bool *broken) {
  const struct g *curg = mp->curg;
  for (int hops = 0; rec && hops < PROF_MAX_FRAMES; hops++) {
    if (!record_ok(rec, mp->g0, curg)) return true;
    if (!(rec->lo == lo && rec->sp < top)) {
      uintptr_t unused;
      enum unw_end w =
          walk_segment(s, rec->pc, false, rec->fp, rec->cfa, 0, rec->lo, rec->hi, &unused);
      if (w == UNW_END_FULL) return false;
      if (w == UNW_END_BROKEN) *broken = true;
      lo = 0; /* only the interrupted segment can leave stale records */
    }
    rec = rec->prev;
  }
  return true;
}

/* The decision table (docs/design.md).  Rows are tried in order. */
__attribute__((no_sanitize_address)) static void take_sample(struct ring_sample *s, struct g *g,
                                                             struct m *mp, uintptr_t pc,
                                                             uintptr_t sp, uintptr_t fp,
                                                             uintptr_t lr) {
  uintptr_t top;
  /* Row 1: no goroutine frames on this thread.  An extra M knows its
   * thread's stack (g0), so the native frames are walked there. */
  if (!mp) {
    push(s, pc);
    push(s, PROF_PC_EXTERNAL);
    return;
  }
  struct g *g0 = mp->g0;
  if (mp->is_extra && atomic_load_explicit(&mp->in_external, memory_order_relaxed)) {
    if (g == g0 && unw_inside(sp, 0, g0->stack_lo, g0->stack_hi))
      walk_segment(s, pc, true, fp, sp, lr, g0->stack_lo, g0->stack_hi, &top);
    else
      push(s, pc);
    push(s, PROF_PC_EXTERNAL);
    return;
  }
  /* Row 2: mid-switch: TLS g, SP and FP may disagree. */
  if (in_switch_code(pc)) goto system;
  struct transition *rec = atomic_load_explicit(&mp->trans, memory_order_relaxed);
  if (g == g0) {
    /* Row 3: SP is not on g0 (a signal stack, or a switch half done). */
    if (!unw_inside(sp, 0, g0->stack_lo, g0->stack_hi)) goto system;
    enum unw_end w = walk_segment(s, pc, true, fp, sp, lr, g0->stack_lo, g0->stack_hi, &top);
    if (w == UNW_END_FULL) return;
    bool rec_ok = rec && record_ok(rec, g0, mp->curg);
    bool in_ext = rec_ok && rec->kind == TRANS_EXTCALL &&
                  atomic_load_explicit(&mp->ext_depth, memory_order_relaxed) > 0;
    bool for_cb = rec_ok && rec->kind == TRANS_CALLBACK && rec->lo == g0->stack_lo &&
                  rec->sp >= sp && rec->sp < top;
    /* Row 4: external code called by the innermost extcall (in_ext), and
     * the runtime work a callback does on g0 right below the external
     * code that called it, on entry and exit (for_cb: the walk went up
     * through the external frames, past the callback's record): the
     * frames continue outward through the records, to the goroutine that
     * made the extcall, or to the foreign thread's own base.  A segment
     * whose walk broke off (CFI the tables do not follow, or code with
     * neither tables nor frame pointers: a JIT's) lost frames, external or
     * not: the sample ends in grt._Truncated. */
    if (in_ext || for_cb) {
      bool broken = w == UNW_END_BROKEN;
      if (walk_records(s, rec, mp, top, g0->stack_lo, &broken) && broken)
        push(s, PROF_PC_TRUNCATED);
      return;
    }
    /* Row 5: the scheduler, or runtime work no goroutine asked for: g0's
     * frames, under grt._System. */
    push(s, PROF_PC_SYSTEM);
    return;
  }
  if (g == mp->curg) {
    /* Row 3 for a goroutine: SP off its stack means a switch is half done. */
    if (!unw_inside(sp, 0, g->stack_lo, g->stack_hi)) goto system;
    /* Row 6: the goroutine's frames, then across every callback boundary.
     * A goroutine segment that broke off (CFI the walker does not follow,
     * or frame-pointer steps through code without tables) lost its
     * callers: the sample says so with grt._Truncated as its root, rather
     * than pass for a whole stack. */
    enum unw_end w = walk_segment(s, pc, true, fp, sp, lr, g->stack_lo, g->stack_hi, &top);
    bool broken = w == UNW_END_BROKEN;
    if (w != UNW_END_FULL && walk_records(s, rec, mp, top, g->stack_lo, &broken) && broken)
      push(s, PROF_PC_TRUNCATED);
    return;
  }
  /* Row 7: anything else. */
system:
  s->n = 0;
  push(s, pc);
  push(s, PROF_PC_SYSTEM);
}

void sigprof_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  int saved_errno = errno;
  atomic_fetch_add(&sigprof.in_handler, 1);
  /* Only a kernel timer's SIGPROF, or a perf event's (POLL_IN with the
   * event's fd: exactly one period of its thread's CPU time), stands for
   * CPU time (Go's validSIGPROF): kill(2), tgkill(2) or sigqueue(3) from
   * anywhere is counted, never sampled, or a storm of them would claim CPU
   * the process never used. */
  bool perf = si->si_code == POLL_IN && si->si_fd >= 0;
  if (si->si_code != SI_TIMER && !perf) {
    atomic_fetch_add_explicit(&sigprof.foreign, 1, memory_order_relaxed);
    goto out;
  }
  uint32_t gen = atomic_load(&sigprof.gen);
  if (gen == 0) goto out;
  {
    uintptr_t pc = arch_uc_pc(uc), sp = arch_uc_sp(uc), fp = arch_uc_fp(uc), lr = arch_uc_lr(uc);
    /* A timer that expired several times before the signal was delivered
     * (the kernel checks CPU timers once per tick) stands for all of them. */
    uint64_t weight = 1;
    if (!perf && si->si_overrun > 0) weight += (uint64_t)si->si_overrun;
    struct g *g = grt_tls_g;
    struct m *mp = g ? g->m : NULL;
    /* A thread that became an M may still have the source the collector
     * gave it as a foreign thread: once its M's own source runs, only that
     * one counts (Go's validSIGPROF, by timer id; here by perf fd too). */
    int own = mp ? atomic_load_explicit(&mp->prof_ktimer, memory_order_relaxed) : -1;
    int own_fd = mp ? atomic_load_explicit(&mp->prof_perf_fd, memory_order_relaxed) : -1;
    if (perf ? own_fd >= 0 && si->si_fd != own_fd
             : own >= 0 && si->si_timerid != own &&
                   !atomic_load_explicit(&sigprof.timerid_opaque, memory_order_relaxed))
      goto out;
    if (!perf && own_fd >= 0) goto out; /* its foreign timer, while its perf event runs */
    struct ring_sample s;
    s.n = 0;
    take_sample(&s, g, mp, pc, sp, fp, lr);
    if (!mp) {
      if (!shared_put(gen, &s, weight, (unsigned)syscall(SYS_gettid)))
        atomic_fetch_add_explicit(&sigprof.lost_shared, weight, memory_order_relaxed);
    } else {
      struct prof_ring *r = atomic_load_explicit(&mp->prof_ring, memory_order_acquire);
      /* Labels are the running goroutine's, also on g0 (its extcalls). */
      struct g *curg = mp->curg;
      if (r)
        ring_put(r, gen, &s, weight, curg ? curg->labels : NULL);
      else
        atomic_fetch_add_explicit(&sigprof.lost_no_ring, weight, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&sigprof.handled, weight, memory_order_relaxed);
    atomic_fetch_add_explicit(&sigprof.delivered, 1, memory_order_relaxed);
  }
out:
  atomic_fetch_sub(&sigprof.in_handler, 1);
  errno = saved_errno;
}
