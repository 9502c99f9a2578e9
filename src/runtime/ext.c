/*
 * ext.c - foreign code both ways: grt_extcall (goroutine -> external C code
 * on the thread's system stack, Go's cgocall) and grt_callback (external
 * code -> goroutine code, Go's cgocallback), including callbacks from
 * threads grt never created, which borrow an "extra M".
 *
 * Invariants, all for the profiler's signal handler running on this thread:
 *   - m->trans is the innermost transition record.  A record is filled in
 *     completely and then published with a release store (the EXTCALL one by
 *     sched_extcall_tramp itself, after it stores the G's lowest SP), and it
 *     is unpublished before its frame goes away.
 *   - m->ext_depth counts active extcalls on this M; m->cb_depth active
 *     callbacks.  Only this thread writes them.
 *   - On an extra M, in_external is true exactly when no goroutine frames
 *     remain on the thread: it is cleared first thing on callback entry,
 *     before any runtime work, and set again on return only when ext_depth
 *     and cb_depth are both 0.  (Go issue #72870 set it on every callback
 *     return, so a nested callback's return blamed external code for the
 *     outer goroutine's work.)
 *   - A goroutine inside a callback is wired to its M: its external caller's
 *     frames live on that M's g0 stack.
 */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include "base/fiber.h"
#include "base/unwind.h"

#include <errno.h>
#include <signal.h>

static void set_depth(_Atomic int32_t *d, int delta) {
  atomic_store_explicit(d, atomic_load_explicit(d, memory_order_relaxed) + delta,
                        memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst); /* ordered for this thread's handler */
}

static bool fn_is_null(const void *fn, const char *who) {
  if (fn) return false;
  warn_line("grt: %s: fn is NULL", who);
  errno = EINVAL;
  return true;
}

static void recheck_tables(void *unused) {
  (void)unused;
  unw_recheck();
}

void *grt_extcall(void *(*fn)(void *), void *arg) {
  RT_ENTER();
  if (fn_is_null((const void *)fn, "grt_extcall")) return NULL;
  struct g *gp = getcurg();
  if (!gp) return fn(arg); /* not a goroutine: nothing to switch from */
  struct m *mp = gp->m;
  /* 1. Where the goroutine stops: sp, pc and fp are stored, and the record
   *    published, by the trampoline. */
  struct transition rec = {
      .kind = TRANS_EXTCALL,
      .lo = gp->stack_lo,
      .hi = gp->stack_hi,
      .prev = atomic_load_explicit(&mp->trans, memory_order_relaxed),
  };
  set_depth(&mp->ext_depth, +1); /* 2. */
  sched_entersyscall(mp);        /* 3. sysmon may now hand our P to another M */
  struct fiber_call c = {fn, arg, gp->stack_lo, gp->stack_hi};
  fiber_begin(&gp->asan_fake, mp->g0->stack_lo, mp->g0->stack_hi);
  void *r = sched_extcall_tramp(fiber_call_run, &c, &rec, mp); /* 4. */
  fiber_end(gp->asan_fake);
  if (sched_forked()) {
    /* fn forked and this is the child: the runtime is gone (fork.c), and
     * the P may belong to an M that does not exist here.  Go on as a plain
     * thread (the trampoline put TLS g back). */
    setg(NULL);
    return r;
  }
  /* 5. Unpublish and count down before getting a P back: without one, the
   *    G may resume on another M, and these belong to this one. */
  atomic_store_explicit(&mp->trans, rec.prev, memory_order_release);
  set_depth(&mp->ext_depth, -1);
  sched_exitsyscall(mp, gp);
  /* The external code may have loaded objects the walker has no tables
   * for yet (unwind.h): checked now and then, only once tables exist. */
  if (__builtin_expect(unw_watching(), 0) && unw_recheck_due(sched_coarse_now()))
    sched_systemstack(recheck_tables, NULL); /* compiling needs more than a goroutine stack */
  return r;
}

/* Not inlined: its CALLBACK record names grt_callback as the frame the
 * external code called, so profiles show grt_callback at the boundary just
 * as they show grt_extcall. */
__attribute__((noinline)) static void *callback_on_m(struct m *mp, void *(*fn)(void *), void *arg) {
  struct g *gp = mp->curg; /* the G in an extcall, or none (a foreign thread) */
  bool fresh = gp == NULL;
  uintptr_t gsp;
  if (fresh) {
    gp = sched_new_callback_g(mp);
    if (!gp) { /* no goroutine frames came: the thread is external again */
      if (mp->is_extra) atomic_store_explicit(&mp->in_external, true, memory_order_relaxed);
      errno = ENOMEM;
      return NULL;
    }
    gsp = gp->stack_hi & ~(uintptr_t)(ARCH_STACK_ALIGN - 1);
  } else {
    /* Continue on the G's stack below its innermost extcall. */
    struct transition *t = atomic_load_explicit(&mp->trans, memory_order_relaxed);
    gsp = (t->sp - 128) & ~(uintptr_t)(ARCH_STACK_ALIGN - 1);
    gp->lockcount++;
    gp->lockedm = mp;
    mp->lockedg = gp;
  }
  uintptr_t *frame = __builtin_frame_address(0);
  struct transition rec = {
      .kind = TRANS_CALLBACK,
      .sp = (uintptr_t)frame,
      .pc = arch_strip_ra(frame[1]),
      .fp = frame[0],
      .cfa = (uintptr_t)__builtin_dwarf_cfa(), /* frame + 2 on x86-64, not on aarch64 */
      .lo = mp->g0->stack_lo,
      .hi = mp->g0->stack_hi,
      .saved_g0_sp = mp->g0->ctx.sp,
      .prev = atomic_load_explicit(&mp->trans, memory_order_relaxed),
  };
  atomic_store_explicit(&mp->trans, &rec, memory_order_release);
  set_depth(&mp->cb_depth, +1);
  sched_acquire_p_for_locked(mp, gp);
  struct fiber_call c = {fn, arg, mp->g0->stack_lo, mp->g0->stack_hi};
  fiber_begin(&mp->asan_fake_g0, gp->stack_lo, gp->stack_hi);
  void *r = sched_callback_tramp(fiber_call_run, &c, gp, gsp);
  fiber_end(mp->asan_fake_g0);
  if (fresh) {
    sched_drop_p(mp);
    sched_free_callback_g(mp, gp);
  } else {
    if (--gp->lockcount == 0) {
      gp->lockedm = NULL;
      mp->lockedg = NULL;
    }
    sched_entersyscall(mp); /* back in the enclosing extcall */
  }
  mp->g0->ctx.sp = rec.saved_g0_sp;
  set_depth(&mp->cb_depth, -1);
  atomic_store_explicit(&mp->trans, rec.prev, memory_order_release);
  /* Goroutine frames remain while an enclosing extcall or callback does. */
  if (mp->is_extra && atomic_load_explicit(&mp->ext_depth, memory_order_relaxed) == 0 &&
      atomic_load_explicit(&mp->cb_depth, memory_order_relaxed) == 0)
    atomic_store_explicit(&mp->in_external, true, memory_order_relaxed);
  return r;
}

void *grt_callback(void *(*fn)(void *), void *arg) {
  if (fn_is_null((const void *)fn, "grt_callback")) return NULL;
  if (sched_forked()) {
    errno = -sched_forked_refuse("grt_callback");
    return NULL;
  }
  struct g *g = getg();
  struct m *mp = g ? g->m : NULL;
  /* A callback from a signal handler would park or take locks the
   * interrupted code may hold. */
  if (stack_on_signal_stack()) {
    warn_line("grt: grt_callback called from a signal handler; refused");
    errno = EDEADLK;
    return NULL;
  }
  if (mp && g == mp->curg) return fn(arg); /* already goroutine code */
  if (mp && mp->is_extra) {
    /* First, before any runtime work: goroutine frames are coming. */
    atomic_store_explicit(&mp->in_external, false, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
  }
  if (!sched_started()) {
    warn_line("grt: grt_callback called before grt_main started the runtime");
    errno = EPERM;
    return NULL;
  }
  if (!mp) {
    mp = sched_new_extra_m(); /* binds this thread; in_external starts true */
    if (!mp) {
      errno = ENOMEM;
      return NULL;
    }
    atomic_store_explicit(&mp->in_external, false, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
  } else if (!mp->is_extra && atomic_load(&mp->ext_depth) == 0) {
    warn_line("grt: grt_callback called on a runtime thread outside grt_extcall");
    errno = EPERM;
    return NULL;
  }
  if (mp->is_extra) sched_m_started(mp); /* its thread's timer, if a profile runs */
  return callback_on_m(mp, fn, arg);
}

int grt_thread_state_get(grt_thread_state *st) {
  if (!st) {
    warn_line("grt: grt_thread_state_get: st is NULL");
    return -EINVAL;
  }
  struct g *g = getg();
  struct m *mp = g ? g->m : NULL;
  *st = (grt_thread_state){0};
  if (!mp) return 0;
  st->known = 1;
  st->is_extra = mp->is_extra;
  st->in_external = atomic_load_explicit(&mp->in_external, memory_order_relaxed);
  st->ext_depth = atomic_load_explicit(&mp->ext_depth, memory_order_relaxed);
  st->cb_depth = atomic_load_explicit(&mp->cb_depth, memory_order_relaxed);
  return 0;
}
