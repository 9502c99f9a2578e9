/*
 * cpuprof.c - the CPU profiler: per-thread CPU timers, the SIGPROF handler
 * (DESIGN §3's decision table and the unwinder), the sample rings, the
 * collector thread, and grt_prof_start / grt_prof_stop.
 *
 * Data path: each M's timer (CLOCK of its thread's CPU time, signal to that
 * thread only) -> prof_sigprof on the M's signal stack -> the M's own ring
 * (single writer: the handler on that thread; single reader: the collector)
 * -> the collector, every 100 ms, aggregates by (stack, labels) into a
 * prof_writer -> on stop, symbolize and write gzipped pprof.
 *
 * Invariants:
 *  - The handler never allocates, never takes a lock, never calls stdio, and
 *    preserves errno.  It reads only: TLS g, the M and G structs (never
 *    freed), the switch-range table copied at start, and stack memory inside
 *    the bounds of a stack that is in use on its own thread (g0's, or
 *    m->curg's) -- checked word by word before every read.
 *  - Transition records are followed only when they lie inside one of those
 *    two stacks and describe one of them; a record whose frame is below the
 *    interrupted SP on the same stack is stale (its call has returned) and
 *    is skipped.
 *  - A session is identified by prof.gen (never 0).  Every ring record
 *    carries the gen it was taken in; the collector drops other gens, so a
 *    signal that lands after a session's final drain cannot leak into the
 *    next session.
 *  - prof_stop publishes gen 0 and then waits for prof.in_handler to reach
 *    0 (both seq_cst), so every sample taken in the session is in a ring
 *    before the final drain.
 *  - Timer fields of an M (prof_timer*, prof_tid) are guarded by its
 *    prof_lock, which only normal code takes (start, stop, M start, extra M
 *    release); the handler never does.
 */
#define _GNU_SOURCE
#include "prof/cpuprof.h"

#include "prof/pprof.h"
#include "prof/symbolize.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PROF_MAX_FRAMES 64 /* real frames per sample; then grt._Truncated */
#define PROF_MAX_HZ 10000
#define PROF_DEFAULT_HZ 100
#define RING_WORDS 8192 /* 64 KiB per M: seconds of samples at 10 kHz */
#define REC_HEADER 3    /* gen|npeek|n, weight, labels; then peek words, then pcs */
#define PEEK_WORDS 8    /* stack words at SP kept for frameless leaves */
#define SHARED_SLOTS 256
#define MAX_FOREIGN 1024     /* threads grt did not create, with a timer each */
#define COLLECT_NS 100000000 /* collector period */

/* ---- rings ---------------------------------------------------------------- */

/* An M's samples.  Records are REC_HEADER words then n pcs, wrapping around
 * words[].  head is advanced by the handler (release) after the record is
 * written; tail by the collector (release) after it has read one. */
struct prof_ring {
  _Atomic uint64_t head;
  char pad1[56];
  _Atomic uint64_t tail;
  char pad2[56];
  _Atomic uint64_t lost; /* weight of samples dropped because the ring was full */
  uint64_t words[RING_WORDS];
};

/* Threads with no M share these slots: a writer claims one with a CAS
 * (FREE -> BUSY), fills it, and marks it FULL; the collector frees it. */
enum { SLOT_FREE, SLOT_BUSY, SLOT_FULL };
struct shared_slot {
  _Atomic uint32_t state;
  uint32_t n;
  uint32_t gen;
  uint64_t weight;
  uintptr_t pcs[PROF_MAX_FRAMES + 2];
};

/* ---- the profiler's state ------------------------------------------------- */

static struct {
  pthread_mutex_t ctl;           /* start / stop (normal code only) */
  bool running;                  /* under ctl */
  uint32_t session;              /* gen of the current or last session (under ctl) */
  _Atomic uint32_t gen;          /* current session, 0 when off: the handler's switch */
  _Atomic int32_t in_handler;    /* handlers past their gen check */
  _Atomic uint64_t lost_no_ring; /* weight of samples on Ms without a ring */
  _Atomic uint64_t lost_shared;  /* weight dropped: every shared slot busy */
  _Atomic uint64_t handled;      /* weight of every sample the handler took (tests) */
  _Atomic bool stall;            /* test hook: the collector does not drain */
  int64_t period_ns;
  grt_code_range switch_ranges[8];
  int nswitch_ranges;
  /* Collector (its thread owns w and lost while running). */
  pthread_t collector;
  struct note collector_stop;
  prof_writer *w;
  prof_symbolizer *live_sym; /* for frame state while profiling (NULL: none) */
  uint64_t lost;
  int64_t start_ns; /* CLOCK_MONOTONIC */
  int fd;
  bool close_fd;
} prof = {.ctl = PTHREAD_MUTEX_INITIALIZER};

static struct shared_slot shared_slots[SHARED_SLOTS];

/* ---- the signal handler --------------------------------------------------- */

/* A sample under construction, on the signal stack.  peek holds the words
 * at the interrupted SP, for the collector to find the caller of a leaf
 * that has no frame of its own (see fix_frameless_leaf). */
struct sample {
  int n, npeek;
  uintptr_t pcs[PROF_MAX_FRAMES + 2];
  uintptr_t peek[PEEK_WORDS];
};

/* Appends pc; false when the stack is full (then marks it truncated). */
static bool push(struct sample *s, uintptr_t pc) {
  if (s->n >= PROF_MAX_FRAMES) {
    s->pcs[PROF_MAX_FRAMES] = PROF_PC_TRUNCATED;
    s->n = PROF_MAX_FRAMES + 1;
    return false;
  }
  s->pcs[s->n++] = pc;
  return true;
}

static bool in_switch_code(uintptr_t pc) {
  for (int i = 0; i < prof.nswitch_ranges; i++)
    if (pc >= prof.switch_ranges[i].start && pc < prof.switch_ranges[i].end) return true;
  return false;
}

enum walk {
  WALK_FULL,   /* the sample has no room left (it ends in grt._Truncated) */
  WALK_ENDED,  /* reached FP 0: the segment's base */
  WALK_BROKEN, /* a frame pointer that is not one: code without frame
                  pointers used RBP, and the callers are unknown */
};

/* One segment: pc (exact when leaf, else a return address), then the
 * return addresses along the frame-pointer chain from fp.  Every frame must
 * lie above sp, inside [lo, hi), 8-aligned, each strictly above the last;
 * the walk stops at fp 0 (a segment's base) or the first frame that is not. */
__attribute__((no_sanitize_address)) static enum walk walk_segment(struct sample *s, uintptr_t pc,
                                                                   bool leaf, uintptr_t fp,
                                                                   uintptr_t sp, uintptr_t lo,
                                                                   uintptr_t hi) {
  if (!push(s, leaf ? pc : pc - 1)) return WALK_FULL;
  uintptr_t min = sp;
  while (fp != 0) {
    if ((fp & 7) || fp < min || fp < lo || hi < 16 || fp > hi - 16) return WALK_BROKEN;
    const uintptr_t *frame = (const uintptr_t *)fp;
    uintptr_t next = frame[0], ret = frame[1];
    if (ret < PROF_PC_PSEUDO_LIMIT) return WALK_BROKEN;
    if (!push(s, ret - 1)) return WALK_FULL;
    min = fp + 16;
    fp = next;
  }
  return WALK_ENDED;
}

/* Is [p, p + size) inside [lo, hi)? */
static bool inside(uintptr_t p, size_t size, uintptr_t lo, uintptr_t hi) {
  return p >= lo && p <= hi && hi - p >= size;
}

/* Keeps the words at the interrupted SP (within the stack's bounds). */
__attribute__((no_sanitize_address)) static void peek_stack(struct sample *s, uintptr_t sp,
                                                            uintptr_t lo, uintptr_t hi) {
  if ((sp & 7) || !inside(sp, 0, lo, hi)) return;
  size_t avail = (hi - sp) / sizeof(uintptr_t);
  s->npeek = avail < PEEK_WORDS ? (int)avail : PEEK_WORDS;
  for (int i = 0; i < s->npeek; i++)
    s->peek[i] = ((const uintptr_t *)sp)[i];
}

/* Is rec a record the handler may read and follow: inside g0's or curg's
 * stack, aligned, and describing frames on one of those two stacks? */
static bool record_ok(const struct transition *rec, const struct g *g0, const struct g *curg) {
  uintptr_t r = (uintptr_t)rec;
  if (r & 7) return false;
  bool on_g0 = inside(r, sizeof *rec, g0->stack_lo, g0->stack_hi);
  bool on_curg = curg && inside(r, sizeof *rec, curg->stack_lo, curg->stack_hi);
  if (!on_g0 && !on_curg) return false;
  if (rec->kind != TRANS_EXTCALL && rec->kind != TRANS_CALLBACK) return false;
  if (rec->lo == g0->stack_lo && rec->hi == g0->stack_hi) return true;
  return curg && rec->lo == curg->stack_lo && rec->hi == curg->stack_hi;
}

/* Follows the transition records from rec outward, one segment each:
 * goroutine frames below an extcall, external frames below a callback...
 * sp/lo are the interrupted segment's: records on that stack below sp are
 * stale (their call has returned, the record not yet unpublished).  A
 * goroutine segment always ends at FP 0 (the goroutine entry, or a
 * callback trampoline), so one whose walk broke off lost frames: *broken.
 * Returns false when the sample is full. */
__attribute__((no_sanitize_address)) static bool walk_records(struct sample *s,
                                                              const struct transition *rec,
                                                              struct m *mp, uintptr_t sp,
                                                              uintptr_t lo, bool *broken) {
  const struct g *curg = mp->curg;
  for (int hops = 0; rec && hops < PROF_MAX_FRAMES; hops++) {
    if (!record_ok(rec, mp->g0, curg)) return true;
    if (!(rec->lo == lo && rec->sp < sp)) {
      enum walk w = walk_segment(s, rec->pc, false, rec->fp, rec->sp, rec->lo, rec->hi);
      if (w == WALK_FULL) return false;
      if (w == WALK_BROKEN && rec->kind == TRANS_EXTCALL) *broken = true;
      lo = 0; /* only the interrupted segment can leave stale records */
    }
    rec = rec->prev;
  }
  return true;
}

/* DESIGN §3: the decision table.  Rows are tried in order. */
__attribute__((no_sanitize_address)) static void
take_sample(struct sample *s, struct g *g, struct m *mp, uintptr_t pc, uintptr_t sp, uintptr_t fp) {
  /* Row 1: no goroutine frames on this thread.  An extra M knows its
   * thread's stack (g0), so the native frames are walked there. */
  if (!mp) {
    push(s, pc);
    push(s, PROF_PC_EXTERNAL);
    return;
  }
  struct g *g0 = mp->g0;
  if (mp->is_extra && atomic_load_explicit(&mp->in_external, memory_order_relaxed)) {
    if (g == g0 && inside(sp, 0, g0->stack_lo, g0->stack_hi)) {
      peek_stack(s, sp, g0->stack_lo, g0->stack_hi);
      walk_segment(s, pc, true, fp, sp, g0->stack_lo, g0->stack_hi);
    } else
      push(s, pc);
    push(s, PROF_PC_EXTERNAL);
    return;
  }
  /* Row 2: mid-switch: TLS g, SP and FP may disagree. */
  if (in_switch_code(pc)) goto system;
  struct transition *rec = atomic_load_explicit(&mp->trans, memory_order_relaxed);
  if (g == g0) {
    /* Row 3: SP is not on g0 (a signal stack, or a switch half done). */
    if (!inside(sp, 0, g0->stack_lo, g0->stack_hi)) goto system;
    peek_stack(s, sp, g0->stack_lo, g0->stack_hi);
    /* Row 4: external code called by the innermost extcall.  (Under a
     * callback record, g0 runs the callback's runtime work instead.) */
    if (atomic_load_explicit(&mp->ext_depth, memory_order_relaxed) > 0 && rec &&
        record_ok(rec, g0, mp->curg) && rec->kind == TRANS_EXTCALL) {
      /* External code is often built without frame pointers: a break in
       * its own segment is not news; a break in a goroutine's is marked. */
      bool broken = false;
      if (walk_segment(s, pc, true, fp, sp, g0->stack_lo, g0->stack_hi) != WALK_FULL &&
          walk_records(s, rec, mp, sp, g0->stack_lo, &broken) && broken)
        push(s, PROF_PC_TRUNCATED);
      return;
    }
    /* Row 5: scheduler or runtime work: g0's frames, under grt._System. */
    if (walk_segment(s, pc, true, fp, sp, g0->stack_lo, g0->stack_hi) != WALK_FULL)
      push(s, PROF_PC_SYSTEM);
    return;
  }
  if (g == mp->curg) {
    /* Row 3 for a goroutine: SP off its stack means a switch is half done. */
    if (!inside(sp, 0, g->stack_lo, g->stack_hi)) goto system;
    peek_stack(s, sp, g->stack_lo, g->stack_hi);
    /* Row 6: the goroutine's frames, then across every callback boundary.
     * A goroutine segment that broke off (a leaf in code without frame
     * pointers, which used RBP) lost its callers: the sample says so with
     * grt._Truncated as its root, rather than pass for a whole stack. */
    enum walk w = walk_segment(s, pc, true, fp, sp, g->stack_lo, g->stack_hi);
    bool broken = w == WALK_BROKEN;
    if (w != WALK_FULL && walk_records(s, rec, mp, sp, g->stack_lo, &broken) && broken)
      push(s, PROF_PC_TRUNCATED);
    return;
  }
  /* Row 7: anything else. */
system:
  s->n = 0;
  s->npeek = 0;
  push(s, pc);
  push(s, PROF_PC_SYSTEM);
}

/* Appends the sample, with a reference to labels, to the M's ring, or
 * counts it lost (taking no reference: only the collector may free). */
static void ring_put(struct prof_ring *r, uint32_t gen, const struct sample *s, uint64_t weight,
                     grt_labels *labels) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  uint64_t len = REC_HEADER + (uint64_t)s->npeek + (uint64_t)s->n;
  if (RING_WORDS - (head - tail) < len) {
    atomic_fetch_add_explicit(&r->lost, weight, memory_order_relaxed);
    return;
  }
  prof_labels_retain(labels);
  r->words[head % RING_WORDS] = (uint64_t)gen << 32 | (uint64_t)s->npeek << 16 | (uint32_t)s->n;
  r->words[(head + 1) % RING_WORDS] = weight;
  r->words[(head + 2) % RING_WORDS] = (uint64_t)(uintptr_t)labels;
  uint64_t at = head + REC_HEADER;
  for (int i = 0; i < s->npeek; i++)
    r->words[at++ % RING_WORDS] = s->peek[i];
  for (int i = 0; i < s->n; i++)
    r->words[at++ % RING_WORDS] = s->pcs[i];
  atomic_store_explicit(&r->head, head + len, memory_order_release);
}

/* For threads with no M: the first free shared slot, starting at one
 * picked by the thread id, or counts the sample lost. */
static void shared_put(uint32_t gen, const struct sample *s, uint64_t weight) {
  unsigned start = (unsigned)syscall(SYS_gettid);
  for (unsigned i = 0; i < SHARED_SLOTS; i++) {
    struct shared_slot *slot = &shared_slots[(start + i) % SHARED_SLOTS];
    uint32_t expect = SLOT_FREE;
    if (!atomic_compare_exchange_strong(&slot->state, &expect, SLOT_BUSY)) continue;
    slot->gen = gen;
    slot->n = (uint32_t)s->n;
    slot->weight = weight;
    for (int k = 0; k < s->n; k++)
      slot->pcs[k] = s->pcs[k];
    atomic_store_explicit(&slot->state, SLOT_FULL, memory_order_release);
    return;
  }
  atomic_fetch_add_explicit(&prof.lost_shared, weight, memory_order_relaxed);
}

static void prof_sigprof(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  int saved_errno = errno;
  atomic_fetch_add(&prof.in_handler, 1);
  uint32_t gen = atomic_load(&prof.gen);
  if (gen != 0) {
    const ucontext_t *uc = ucv;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    /* A timer that expired several times before the signal was delivered
     * (the kernel checks CPU timers once per tick) stands for all of them. */
    uint64_t weight = 1;
    if (si->si_code == SI_TIMER && si->si_overrun > 0) weight += (uint64_t)si->si_overrun;
    struct g *g = grt_tls_g;
    struct m *mp = g ? g->m : NULL;
    /* A thread that became an M may still have the timer the collector
     * gave it as a foreign thread: once its M's own timer runs, only that
     * one counts (Go's validSIGPROF, by timer id). */
    int own = mp ? atomic_load_explicit(&mp->prof_ktimer, memory_order_relaxed) : -1;
    if (si->si_code == SI_TIMER && own >= 0 && si->si_timerid != own) goto out;
    struct sample s;
    s.n = 0;
    s.npeek = 0;
    take_sample(&s, g, mp, pc, sp, fp);
    if (!mp) {
      shared_put(gen, &s, weight);
    } else {
      struct prof_ring *r = atomic_load_explicit(&mp->prof_ring, memory_order_acquire);
      /* Labels are the running goroutine's, also on g0 (its extcalls). */
      struct g *curg = mp->curg;
      if (r)
        ring_put(r, gen, &s, weight, curg ? curg->labels : NULL);
      else
        atomic_fetch_add_explicit(&prof.lost_no_ring, weight, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&prof.handled, weight, memory_order_relaxed);
  }
out:
  atomic_fetch_sub(&prof.in_handler, 1);
  errno = saved_errno;
}

/* ---- timers --------------------------------------------------------------- */

/* A SIGPROF timer on the CPU clock of thread tid, first expiring at a
 * random point within one period (so threads started together do not all
 * sample on the same tick, and a short-lived one still gets its chance).
 * The clock id is what pthread_getcpuclockid computes, so any thread can
 * arm a timer for another: the starter arms Ms busy running goroutines,
 * and the collector arms threads grt did not create.  Returns the kernel
 * timer id (which is what glibc's timer_t holds for SIGEV_THREAD_ID
 * timers, and what si_timerid carries), or -1. */
static int thread_timer_new(pid_t tid) {
  clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 6);
  struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGPROF};
  ev._sigev_un._tid = tid;
  timer_t t;
  if (timer_create(clock, &ev, &t) != 0) return -1; /* the thread is gone */
  int64_t first = 1 + (int64_t)(rt_fastrand() % (uint64_t)prof.period_ns);
  struct itimerspec its = {
      .it_interval = {prof.period_ns / 1000000000, prof.period_ns % 1000000000},
      .it_value = {first / 1000000000, first % 1000000000},
  };
  if (timer_settime(t, 0, &its, NULL) != 0) {
    timer_delete(t);
    return -1;
  }
  return (int)(intptr_t)t;
}

static void thread_timer_delete(int ktimer) {
  timer_delete((timer_t)(intptr_t)ktimer);
}

/* Under mp->prof_lock: makes mp's timer match session gen (0: none). */
static void m_timer_set(struct m *mp, uint32_t gen) {
  if (mp->prof_timer_gen == gen) return;
  int old = atomic_load_explicit(&mp->prof_ktimer, memory_order_relaxed);
  atomic_store_explicit(&mp->prof_ktimer, -1, memory_order_relaxed);
  if (old >= 0) thread_timer_delete(old);
  mp->prof_timer_gen = 0;
  pid_t tid = atomic_load_explicit(&mp->prof_tid, memory_order_relaxed);
  if (gen == 0 || tid == 0) return;
  int k = thread_timer_new(tid);
  if (k < 0) return;
  atomic_store_explicit(&mp->prof_ktimer, k, memory_order_relaxed);
  mp->prof_timer_gen = gen;
}

static struct prof_ring *ring_new(void) {
  void *p = mmap(NULL, sizeof(struct prof_ring), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Under mp->prof_lock: a ring (allocated once, kept for the M's life) and
 * the timer for session gen (0: none), and the record of both for
 * prof_m_started's lock-free check. */
static void m_prepare(struct m *mp, uint32_t gen) {
  if (gen != 0 && !atomic_load_explicit(&mp->prof_ring, memory_order_relaxed)) {
    struct prof_ring *r = ring_new();
    if (r) atomic_store_explicit(&mp->prof_ring, r, memory_order_release);
  }
  m_timer_set(mp, gen);
  atomic_store_explicit(&mp->prof_armed_gen, gen, memory_order_relaxed);
}

void prof_m_started(struct m *mp) {
  /* Fast path (every callback from a foreign thread): nothing changed. */
  if (atomic_load_explicit(&prof.gen, memory_order_relaxed) ==
          atomic_load_explicit(&mp->prof_armed_gen, memory_order_relaxed) &&
      atomic_load_explicit(&mp->prof_tid, memory_order_relaxed) == mp->tid)
    return;
  rt_lock_acquire(&mp->prof_lock);
  atomic_store_explicit(&mp->prof_tid, mp->tid, memory_order_relaxed);
  m_prepare(mp, atomic_load(&prof.gen));
  rt_lock_release(&mp->prof_lock);
}

void prof_m_exiting(struct m *mp) {
  rt_lock_acquire(&mp->prof_lock);
  m_prepare(mp, 0);
  atomic_store_explicit(&mp->prof_tid, 0, memory_order_relaxed);
  rt_lock_release(&mp->prof_lock);
}

/* Sets every M's timer for session gen (0: deletes them). */
static void all_ms_set(uint32_t gen) {
  for (struct m *mp = sched_allm(); mp; mp = mp->alllink) {
    rt_lock_acquire(&mp->prof_lock);
    m_prepare(mp, gen);
    rt_lock_release(&mp->prof_lock);
  }
}

/* ---- the collector -------------------------------------------------------- */

/* A leaf whose function has no frame of its own (yet, or any more) leaves
 * RBP framing its caller, so the walk went from the leaf straight to the
 * caller's caller.  The CFI says where the return address is: put the
 * caller back from the stack words the handler kept.  pcs has room for one
 * more. */
static void fix_frameless_leaf(uintptr_t *pcs, int *n, const uintptr_t *peek, int npeek) {
  if (!prof.live_sym || *n < 1 || pcs[0] < PROF_PC_PSEUDO_LIMIT || npeek == 0) return;
  int off = prof_frameless_ra_offset(prof.live_sym, pcs[0]);
  if (off < 0 || off % 8 != 0 || off / 8 >= npeek) return;
  uintptr_t ret = peek[off / 8];
  if (ret < PROF_PC_PSEUDO_LIMIT || (*n > 1 && pcs[1] == ret - 1)) return;
  memmove(pcs + 2, pcs + 1, (size_t)(*n - 1) * sizeof *pcs);
  pcs[1] = ret - 1;
  (*n)++;
}

static void add_sample(uint32_t gen, const uintptr_t *pcs, int n, uint64_t weight,
                       grt_labels *labels) {
  /* gen differs for a late signal of an earlier session: dropped. */
  if (gen == prof.session &&
      prof_writer_add(prof.w, pcs, n, prof_labels_kv(labels), (int64_t)weight) != 0)
    prof.lost += weight;
  grt_labels_release(labels); /* the handler's reference */
}

static void drain_ring(struct prof_ring *r) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  uintptr_t pcs[PROF_MAX_FRAMES + 3], peek[PEEK_WORDS];
  while (tail != head) {
    uint64_t h0 = r->words[tail % RING_WORDS];
    uint64_t weight = r->words[(tail + 1) % RING_WORDS];
    grt_labels *labels = (grt_labels *)(uintptr_t)r->words[(tail + 2) % RING_WORDS];
    int n = (int)(uint16_t)h0, npeek = (int)(uint16_t)(h0 >> 16);
    uint64_t len = REC_HEADER + (uint64_t)npeek + (uint64_t)n;
    if (n > PROF_MAX_FRAMES + 1 || npeek > PEEK_WORDS || head - tail < len)
      grt_fatal("grt: profiler ring corrupted");
    uint64_t at = tail + REC_HEADER;
    for (int i = 0; i < npeek; i++)
      peek[i] = r->words[at++ % RING_WORDS];
    for (int i = 0; i < n; i++)
      pcs[i] = r->words[at++ % RING_WORDS];
    fix_frameless_leaf(pcs, &n, peek, npeek);
    add_sample((uint32_t)(h0 >> 32), pcs, n, weight, labels);
    tail += len;
  }
  atomic_store_explicit(&r->tail, tail, memory_order_release);
  prof.lost += atomic_exchange_explicit(&r->lost, 0, memory_order_relaxed);
}

static void drain_all(void) {
  for (struct m *mp = sched_allm(); mp; mp = mp->alllink) {
    struct prof_ring *r = atomic_load_explicit(&mp->prof_ring, memory_order_acquire);
    if (r) drain_ring(r);
  }
  for (int i = 0; i < SHARED_SLOTS; i++) {
    struct shared_slot *slot = &shared_slots[i];
    if (atomic_load_explicit(&slot->state, memory_order_acquire) != SLOT_FULL) continue;
    add_sample(slot->gen, slot->pcs, (int)slot->n, slot->weight, NULL);
    atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
  }
  prof.lost += atomic_exchange(&prof.lost_no_ring, 0) + atomic_exchange(&prof.lost_shared, 0);
}

/* ---- threads grt did not create ------------------------------------------
 * The collector lists /proc/self/task every period and gives every thread
 * that is not an M (nor sysmon, nor itself) a timer of its own; their
 * samples go to the shared slots as {pc, grt._ExternalCode}.  A thread that
 * has become an M keeps both timers until the next scan deletes the
 * foreign one; meanwhile the handler counts only its M's (by timer id). */

static struct {
  pid_t tid;
  int ktimer;
  bool seen;
} foreign[MAX_FOREIGN];
static int nforeign; /* collector-owned; stop uses it after the join */

/* The tids of threads bound to Ms, snapshot once per scan. */
static pid_t *m_tids;
static int n_m_tids, cap_m_tids;

static void snapshot_m_tids(void) {
  n_m_tids = 0;
  for (struct m *mp = sched_allm(); mp; mp = mp->alllink) {
    pid_t tid = atomic_load_explicit(&mp->prof_tid, memory_order_relaxed);
    if (tid == 0) continue;
    if (n_m_tids == cap_m_tids) {
      int cap = cap_m_tids ? 2 * cap_m_tids : 64;
      pid_t *bigger = realloc(m_tids, (size_t)cap * sizeof *bigger);
      if (!bigger) return; /* a thread missed now is seen next scan */
      m_tids = bigger;
      cap_m_tids = cap;
    }
    m_tids[n_m_tids++] = tid;
  }
}

static bool is_m_tid(pid_t tid) {
  for (int i = 0; i < n_m_tids; i++)
    if (m_tids[i] == tid) return true;
  return false;
}

static void foreign_remove(int i) {
  thread_timer_delete(foreign[i].ktimer);
  foreign[i] = foreign[--nforeign];
}

static void foreign_scan(pid_t self) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  for (int i = 0; i < nforeign; i++)
    foreign[i].seen = false;
  snapshot_m_tids();
  pid_t sysmon = sched_sysmon_tid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long v = strtol(e->d_name, &end, 10);
    if (*end || v <= 0) continue;
    pid_t tid = (pid_t)v;
    if (tid == self || tid == sysmon) continue;
    int i = 0;
    while (i < nforeign && foreign[i].tid != tid)
      i++;
    if (i < nforeign) {
      foreign[i].seen = true;
      continue;
    }
    if (nforeign == MAX_FOREIGN || is_m_tid(tid)) continue;
    int k = thread_timer_new(tid);
    if (k >= 0) foreign[nforeign++] = (typeof(foreign[0])){.tid = tid, .ktimer = k, .seen = true};
  }
  closedir(d);
  /* Gone, or an M now (its own timer counts): no foreign timer. */
  for (int i = 0; i < nforeign;)
    if (!foreign[i].seen || is_m_tid(foreign[i].tid))
      foreign_remove(i);
    else
      i++;
}

static void foreign_stop(void) {
  while (nforeign > 0)
    foreign_remove(0);
  free(m_tids);
  m_tids = NULL;
  n_m_tids = cap_m_tids = 0;
}

static void *collector_main(void *unused) {
  (void)unused;
  pid_t self = (pid_t)syscall(SYS_gettid);
  for (;;) {
    foreign_scan(self);
    note_sleep(&prof.collector_stop, nanotime() + COLLECT_NS);
    if (atomic_load_explicit(&prof.collector_stop.key, memory_order_acquire)) return NULL;
    if (!atomic_load_explicit(&prof.stall, memory_order_relaxed)) drain_all();
  }
}

void prof_test_stall_collector(bool stall) {
  atomic_store(&prof.stall, stall);
}

uint64_t prof_test_handled_weight(void) {
  return atomic_load(&prof.handled);
}

/* ---- start / stop --------------------------------------------------------- */

static int64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* No new samples; delete the Ms' timers; wait out handlers in flight. */
static void quiesce(void) {
  atomic_store(&prof.gen, 0);
  all_ms_set(0);
  while (atomic_load(&prof.in_handler) != 0)
    sched_yield();
}

static void stop_at_exit(void *unused);
static void atexit_stop(void) {
  /* On whatever stack exit(3) was called from: symbolizing needs g0's. */
  sched_systemstack(stop_at_exit, NULL);
}
/* fork(2) with SIGPROF arriving every tick can restart forever (the
 * kernel restarts a fork interrupted by a signal): block it in the forking
 * thread, as Go does.  The child has no timers and no collector; it starts
 * with profiling off. */
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
  atomic_store(&prof.gen, 0);
  atomic_store(&prof.in_handler, 0);
  prof.running = false;
  pthread_mutex_init(&prof.ctl, NULL);
  signal(SIGPROF, SIG_IGN);
  pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

static void register_hooks(void) {
  atexit(atexit_stop);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int start_locked(const grt_prof_config *cfg) {
  if (prof.running) return -EBUSY;
  int hz = cfg->hz == 0 ? PROF_DEFAULT_HZ : cfg->hz;
  if (hz < 0 || hz > PROF_MAX_HZ) return -EINVAL;
  if (!cfg->path && cfg->fd < 0) return -EINVAL;
  int fd = cfg->fd;
  if (cfg->path) {
    fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
  }
  prof.period_ns = 1000000000 / hz;
  prof.w = prof_writer_new(prof.period_ns, realtime_ns());
  if (!prof.w) {
    if (cfg->path) close(fd);
    return -ENOMEM;
  }
  const grt_code_range *ranges;
  prof.nswitch_ranges = grt_switch_ranges(&ranges);
  memcpy(prof.switch_ranges, ranges, (size_t)prof.nswitch_ranges * sizeof *ranges);
  /* Snapshot of the loaded modules for fix_frameless_leaf; without it
   * (out of memory) leaves without frames just lose their caller. */
  prof.live_sym = prof_symbolizer_new();
  prof.fd = fd;
  prof.close_fd = cfg->path != NULL;
  prof.lost = 0;
  prof.start_ns = nanotime();
  if (++prof.session == 0) prof.session = 1;
  note_clear(&prof.collector_stop);

  struct sigaction sa = {.sa_sigaction = prof_sigprof,
                         .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPROF, &sa, NULL);
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, register_hooks);
  atomic_store(&prof.gen, prof.session);
  all_ms_set(prof.session);
  prof.running = true;

  /* The collector must not take SIGPROF: block every signal while it is
   * created, so it starts with all of them blocked. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&prof.collector, NULL, collector_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    quiesce();
    prof.running = false;
    prof_writer_free(prof.w);
    prof.w = NULL;
    prof_symbolizer_free(prof.live_sym);
    prof.live_sym = NULL;
    if (cfg->path) close(fd);
    return -err;
  }
  return 0;
}

int grt_prof_start(const grt_prof_config *cfg) {
  if (!cfg) return -EINVAL;
  pthread_mutex_lock(&prof.ctl);
  int r = start_locked(cfg);
  pthread_mutex_unlock(&prof.ctl);
  return r;
}

static int stop_locked(void) {
  if (!prof.running) return -EINVAL;
  prof.running = false;
  quiesce();
  note_wakeup(&prof.collector_stop);
  pthread_join(prof.collector, NULL);
  foreign_stop();
  /* Handlers that took a foreign timer's signal before it was deleted
   * have finished: gen was 0 for them, or in_handler covered them. */
  drain_all(); /* everything the session recorded */
  /* A signal still pending after this is dropped, not fatal. */
  signal(SIGPROF, SIG_IGN);
  if (prof.lost) {
    uintptr_t lost_pc = PROF_PC_LOST;
    prof_writer_add(prof.w, &lost_pc, 1, NULL, (int64_t)prof.lost);
  }
  int64_t duration = nanotime() - prof.start_ns;
  prof_symbolizer *sym = prof_symbolizer_new(); /* NULL: addresses only */
  int err = prof_writer_write(prof.w, sym, duration, prof.fd);
  if (sym) prof_symbolizer_free(sym);
  prof_writer_free(prof.w);
  prof.w = NULL;
  prof_symbolizer_free(prof.live_sym);
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

int grt_prof_stop(void) {
  int r = 0;
  /* On a goroutine, symbolizing and writing must not hold the P. */
  if (getcurg())
    grt_extcall(stop_call, &r);
  else
    stop_call(&r);
  return r;
}

static void stop_at_exit(void *unused) {
  (void)unused;
  /* Another thread inside start or stop while the process exits: leave it. */
  if (pthread_mutex_trylock(&prof.ctl) != 0) return;
  if (prof.running) {
    int err = stop_locked();
    if (err) sched_warn("grt: writing the CPU profile at exit failed: %s", strerror(-err));
  }
  pthread_mutex_unlock(&prof.ctl);
}

/* GRT_CPUPROFILE=path [GRT_CPUPROFILE_HZ=n]: profile the whole run.  A bad
 * value leaves profiling off with one line on stderr; the program runs on. */
void prof_start_from_env(void) {
  const char *path = getenv("GRT_CPUPROFILE");
  if (!path || !*path) return;
  int hz = PROF_DEFAULT_HZ;
  const char *hzs = getenv("GRT_CPUPROFILE_HZ");
  if (hzs && *hzs) {
    char *end;
    errno = 0;
    long v = strtol(hzs, &end, 10);
    if (errno || *end || end == hzs || v < 1 || v > PROF_MAX_HZ) {
      sched_warn("grt: GRT_CPUPROFILE_HZ=\"%s\" is not a whole number in 1..%d; CPU profiling off",
                 hzs, PROF_MAX_HZ);
      return;
    }
    hz = (int)v;
  }
  int err = grt_prof_start(&(grt_prof_config){.path = path, .hz = hz});
  if (err)
    sched_warn("grt: GRT_CPUPROFILE=\"%s\": cannot start CPU profiling: %s; CPU profiling off",
               path, strerror(-err));
}
