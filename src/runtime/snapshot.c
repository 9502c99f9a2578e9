/*
 * snapshot.c - every goroutine's state and stack, read while the program
 * runs (grt_dump, SIGQUIT, the goroutine profile: src/pprof/goroutines.c).
 *
 * Invariants:
 *  - No stop-the-world: other threads keep starting, parking and ending
 *    goroutines, and reusing their stacks, while a snapshot reads them.  No
 *    G struct is freed while a snapshot walks allg (sched_allg to
 *    sched_allg_done; a G taken off the list meanwhile keeps its link), so
 *    their fields are read in place with atomic loads.  Another goroutine's stack is never
 *    dereferenced: its words are copied with process_vm_readv on our own
 *    pid, which fails with EFAULT instead of faulting when the memory went
 *    away meanwhile.  Where process_vm_readv is missing (qemu-user: ENOSYS)
 *    or refused (a seccomp filter: EPERM), the words go through a pipe
 *    instead: write(2) from the stack fails with EFAULT the same way.
 *    Frames are walked by base/unwind.h, the walker the profiler and the
 *    fatal path use, with this reader.
 *  - A stack copy counts only if g->switches (bumped by sched.c each time
 *    the G starts and stops running) and g->status read the same after the
 *    copy as before: a seqlock.  Otherwise it is retried, then reported as
 *    unavailable.  A G inside grt_extcall does not switch, but its frames
 *    above the EXTCALL record stay put until the record is unpublished, so
 *    there the record's address and contents are checked the same way.
 *  - Only sched.lock is taken, to read the allg head and count the walk.
 */
#define _GNU_SOURCE
#include "runtime/snapshot.h"
#include "runtime/runtime.h"

#include "base/buf.h"
#include "base/unwind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_TRIES 8 /* seqlock retries before "goroutine moved" */
#define WINDOW 2048 /* stack bytes copied per system call (< PIPE_BUF) */

/* A racy read of a field another thread writes: never torn, maybe stale. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static int push_pc(struct snap *s, uintptr_t pc) {
  if (buf_grow(&s->pcs, &s->pcap, s->npcs + 1, sizeof *s->pcs)) return -ENOMEM;
  s->pcs[s->npcs++] = pc;
  return 0;
}

/* ---- reading other goroutines' stacks --------------------------------------- */

/* A window of a stack copied in one system call: most parked goroutines'
 * whole chain fits in one. */
struct stackreader {
  pid_t pid;
  int pipe[2];        /* the fallback's, made on first use; -1 until then */
  uintptr_t base, hi; /* hi: the top of the stack being walked */
  size_t len;
  unsigned char buf[WINDOW];
};

/* Set once process_vm_readv has said it cannot work here. */
static atomic_bool no_vm_readv;

/* Copies up to n (<= WINDOW) bytes from our own address space at src
 * without faulting: the count copied (short where the memory ends), or -1.
 * The pipe is always drained, so a write of at most WINDOW bytes never
 * blocks. */
static ssize_t copy_safe(struct stackreader *r, void *dst, uintptr_t src, size_t n) {
  if (!atomic_load_explicit(&no_vm_readv, memory_order_relaxed)) {
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    ssize_t got = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
    if (got >= 0 || (errno != ENOSYS && errno != EPERM)) return got;
    atomic_store(&no_vm_readv, true);
  }
  if (r->pipe[0] < 0 && pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK)) return -1;
  ssize_t put = write(r->pipe[1], (const void *)src, n);
  if (put <= 0) return -1;
  return read(r->pipe[0], dst, (size_t)put) == put ? put : -1;
}

static bool copy_remote(struct stackreader *r, void *dst, uintptr_t src, size_t n) {
  return copy_safe(r, dst, src, n) == (ssize_t)n;
}

/* The walker's reader: the word at addr, through the window (one copy per
 * WINDOW bytes, up to the stack's top). */
static bool read_word(void *rd, uintptr_t addr, uintptr_t *w) {
  struct stackreader *r = rd;
  if (!(addr >= r->base && addr - r->base <= r->len && r->len - (addr - r->base) >= 8)) {
    size_t n = r->hi - addr < WINDOW ? r->hi - addr : WINDOW;
    ssize_t got = copy_safe(r, r->buf, addr, n);
    r->base = addr;
    r->len = got > 0 ? (size_t)got : 0;
    if (r->len < 8) return false;
  }
  memcpy(w, r->buf + (addr - r->base), 8);
  return true;
}

struct emitter {
  struct snap *s;
  struct gsnap *g;
  int err;
};

static bool emit_frame(void *out, uintptr_t ret) {
  struct emitter *e = out;
  if (e->s->npcs - e->g->first >= SNAP_MAX_FRAMES) {
    e->g->elided = true;
    return false;
  }
  if (push_pc(e->s, ret - 1)) {
    e->err = -ENOMEM;
    return false;
  }
  return true;
}

/* Appends the frames of a stopped goroutine: pc is a return address (the
 * one sched_mcall saved, or grt_extcall's in an EXTCALL record) and sp the
 * SP after that return, then the callers within [lo, hi).  A walk that
 * breaks off just ends there. */
static int walk(struct snap *s, struct stackreader *r, struct gsnap *g, uintptr_t pc, uintptr_t fp,
                uintptr_t sp, uintptr_t lo, uintptr_t hi) {
  if (pc < UNW_MIN_PC) return 0;
  if (push_pc(s, pc - 1)) return -ENOMEM;
  struct emitter e = {s, g, 0};
  r->hi = hi;
  unw_walk((struct unw_regs){pc, sp, fp, 0}, false, lo, hi, read_word, r, emit_frame, &e, NULL);
  return e.err;
}

/* A parked goroutine inside a callback: its own segment ended at the
 * callback trampoline, and the external code that called back (and the
 * goroutine that made the extcall, if any) is still on the stacks of its
 * M, which is wired to it and runs nothing else until it returns.  So the
 * M's transition records and their frames are as stable as the parked G
 * (the seqlock covers them): each record is copied, checked and walked,
 * segment by segment, through the reader. */
static int walk_callers(struct snap *s, struct stackreader *r, struct gsnap *g, struct g *gp) {
  struct m *mp = LOAD(gp->lockedm);
  if (!mp || atomic_load(&mp->cb_depth) <= 0) return 0;
  struct transition *t = atomic_load_explicit(&mp->trans, memory_order_acquire), rec;
  for (int hops = 0; t && hops < 16 && !g->elided; hops++) {
    if (((uintptr_t)t & 7) || !copy_remote(r, &rec, (uintptr_t)t, sizeof rec)) return 0;
    if (rec.kind != TRANS_EXTCALL && rec.kind != TRANS_CALLBACK) return 0;
    if (rec.lo >= rec.hi || rec.cfa < rec.lo || rec.cfa > rec.hi) return 0;
    r->len = 0; /* another stack */
    if (walk(s, r, g, rec.pc, rec.fp, rec.cfa, rec.lo, rec.hi)) return -ENOMEM;
    t = rec.prev;
  }
  return 0;
}

/* The innermost EXTCALL record of gp's M, copied, if gp is in an extcall
 * (the record lives in grt_extcall's frame, on gp's own stack). */
static bool extcall_record(struct stackreader *r, struct g *gp, struct m *mp,
                           struct transition **at, struct transition *rec) {
  if (!mp || LOAD(mp->curg) != gp || atomic_load(&mp->ext_depth) <= 0) return false;
  struct transition *t = atomic_load_explicit(&mp->trans, memory_order_acquire);
  uintptr_t p = (uintptr_t)t, lo = LOAD(gp->stack_lo), hi = LOAD(gp->stack_hi);
  if (!t || (p & 7) || p < lo || p > hi || hi - p < sizeof *rec) return false;
  if (!copy_remote(r, rec, p, sizeof *rec)) return false;
  *at = t;
  return rec->kind == TRANS_EXTCALL && rec->lo == lo && rec->hi == hi && rec->sp >= lo &&
         rec->sp < hi;
}

/* Snapshots gp into s (nothing for idle and dead Gs).  self: the caller of
 * the dump, which is inside grt_extcall while this runs. */
static int snap_g(struct snap *s, struct stackreader *r, struct g *gp, struct g *self) {
  struct gsnap g;
  for (int tries = 0;; tries++) {
    uint32_t sw = atomic_load_explicit(&gp->switches, memory_order_acquire);
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (st != G_RUNNABLE && st != G_RUNNING && st != G_WAITING) return 0;
    g = (struct gsnap){.id = LOAD(gp->id),
                       .gopc = LOAD(gp->gopc),
                       .parentid = LOAD(gp->parentid),
                       .first = s->npcs,
                       .locked = LOAD(gp->lockedm) != NULL,
                       .self = gp == self};
    memcpy(g.name, gp->name, sizeof g.name); /* racy but bounded; NUL forced below */
    g.name[sizeof g.name - 1] = 0;
    if (tries == MAX_TRIES) {
      g.kind = SNAP_MOVED;
      g.state = st == G_RUNNING ? "running" : st == G_RUNNABLE ? "runnable" : "waiting";
      break;
    }
    r->len = 0; /* a window from an earlier try may be stale */
    uintptr_t lo = LOAD(gp->stack_lo), hi = LOAD(gp->stack_hi);
    bool stable = true;
    if (st == G_RUNNING) {
      struct m *mp = LOAD(gp->m);
      struct transition *at = NULL, rec, rec2;
      if (extcall_record(r, gp, mp, &at, &rec)) {
        g.state = gp == self ? "running" : "extcall";
        if (walk(s, r, &g, rec.pc, rec.fp, rec.cfa, lo, hi)) return -ENOMEM;
        stable = LOAD(gp->m) == mp && LOAD(mp->curg) == gp &&
                 atomic_load_explicit(&mp->trans, memory_order_acquire) == at &&
                 copy_remote(r, &rec2, (uintptr_t)at, sizeof rec2) && rec2.sp == rec.sp &&
                 rec2.cfa == rec.cfa && rec2.pc == rec.pc && rec2.fp == rec.fp;
      } else {
        g.kind = SNAP_ELSEWHERE;
        g.state = "running";
      }
    } else {
      uintptr_t pc = LOAD(gp->ctx.pc), fp = LOAD(gp->ctx.fp), sp = LOAD(gp->ctx.sp);
      const char *why = LOAD(gp->waitreason);
      if (st == G_WAITING) {
        int64_t since = LOAD(gp->waitsince);
        g.waited_ns = since ? sched_coarse_now() - since : 0;
      }
      g.state = st == G_RUNNABLE ? "runnable" : why ? why : "waiting";
      if (pc == (uintptr_t)sched_goentry) {
        /* Not started yet: show the function it will run, as Go does. */
        uintptr_t fn = (uintptr_t)LOAD(gp->fn);
        if (fn >= UNW_MIN_PC && push_pc(s, fn)) return -ENOMEM;
      } else if (walk(s, r, &g, pc, fp, sp, lo, hi) || walk_callers(s, r, &g, gp)) {
        return -ENOMEM;
      }
    }
    atomic_thread_fence(memory_order_acquire);
    if (stable && atomic_load_explicit(&gp->switches, memory_order_relaxed) == sw &&
        atomic_load_explicit(&gp->status, memory_order_relaxed) == st && LOAD(gp->id) == g.id)
      break;
    s->npcs = g.first;
    g.elided = false;
  }
  g.n = (int)(s->npcs - g.first);
  if (buf_grow(&s->gs, &s->gcap, s->ng + 1, sizeof *s->gs)) return -ENOMEM;
  s->gs[s->ng++] = g;
  return 0;
}

/* The caller first, as Go prints the current goroutine first; then by id. */
static int by_id(const void *a, const void *b) {
  const struct gsnap *x = a, *y = b;
  if (x->self != y->self) return x->self ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

struct snap_reader *snap_reader_new(void) {
  /* Tables for code loaded since the last dump or profile (a failure
   * leaves frame-pointer steps where tables are missing). */
  unw_refresh();
  struct stackreader *r = malloc(sizeof *r);
  if (!r) return NULL;
  r->pid = getpid();
  r->pipe[0] = r->pipe[1] = -1;
  r->len = 0;
  return (struct snap_reader *)r;
}

void snap_reader_free(struct snap_reader *sr) {
  struct stackreader *r = (struct stackreader *)sr;
  if (!r) return;
  if (r->pipe[0] >= 0) close(r->pipe[0]);
  if (r->pipe[1] >= 0) close(r->pipe[1]);
  free(r);
}

int snap_goroutine(struct snap *s, struct snap_reader *r, struct g *gp) {
  return snap_g(s, (struct stackreader *)r, gp, NULL);
}

int snap_collect(struct snap *s, struct g *self) {
  struct stackreader *r = (struct stackreader *)snap_reader_new();
  if (!r) return -ENOMEM;
  int err = 0;
  for (struct g *gp = sched_allg(); gp && !err; gp = LOAD(gp->alllink))
    err = snap_g(s, r, gp, self);
  sched_allg_done();
  snap_reader_free((struct snap_reader *)r);
  if (err) return err;
  if (s->ng) qsort(s->gs, s->ng, sizeof *s->gs, by_id);
  return 0;
}

void snap_free(struct snap *s) {
  free(s->gs);
  free(s->pcs);
  s->gs = NULL;
  s->pcs = NULL;
  s->ng = s->gcap = s->npcs = s->pcap = 0;
}
