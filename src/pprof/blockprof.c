/*
 * blockprof.c - the block and mutex profiles: where goroutines waited, and
 * for how long (Go's runtime.SetBlockProfileRate and
 * SetMutexProfileFraction, and their pprof.Lookup("block"/"mutex")).
 *
 * The runtime reports contention through its hooks (sched_hooks.blocked
 * and .mutex_handoff), only while sched_contention_watch asks for it:
 *   - block: every park, timed, except sleeps (grt_sleep and an empty
 *     select), as in Go; channels, select, grt_mutex, wait groups, the
 *     rest of sync, and netpoll waits (which Go leaves out: in grt a
 *     goroutine waiting for its socket is as blocked as one waiting for a
 *     channel).  Reported by the goroutine that parked, once it runs
 *     again, with its own stack: the park's call site and its callers.
 *   - mutex: a grt_mutex handed to a waiter, reported by the unlocker with
 *     the unlocker's stack and the waiter's wait, as Go's mutex profile
 *     charges the end of the critical section that caused the delay.
 *
 * Invariants:
 *  - Hooks run in normal code on a goroutine.  The stack is walked from
 *    the hook's own frame by the shared unwinder (base/unwind.h), within
 *    the goroutine's stack bounds; no signal is involved.
 *  - Each table is guarded by its own pthread mutex, held only to find or
 *    add one stack; writing a profile copies nothing and holds the lock
 *    while the pprof writer aggregates (no file I/O, no symbolizing).
 *  - Sampling keeps totals unbiased, as Go does: a block event of d ns
 *    with d < rate is kept with probability d / rate and then counts
 *    rate / d contentions and rate ns of delay; a mutex event is kept
 *    with probability 1 / fraction and counts fraction times.
 */
#define _GNU_SOURCE
#include "pprof/blockprof.h"

#include "grt.h"

#include "base/buf.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/unwind.h"
#include "base/warn.h"
#include "pprof/pprof.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FRAMES 64

struct event {
  double count;
  int64_t delay; /* ns */
  int n;
  uintptr_t pcs[]; /* call sites, leaf first */
};

struct table {
  pthread_mutex_t mu;
  struct event **ev;
  size_t n, cap;
  struct hash_index ix;
  int64_t since_ns; /* CLOCK_REALTIME when recording started */
  int64_t since_mono;
};

static struct table block = {.mu = PTHREAD_MUTEX_INITIALIZER};
static struct table mutex = {.mu = PTHREAD_MUTEX_INITIALIZER};
static _Atomic int64_t block_rate; /* ns; <= 0: off */
static _Atomic int mutex_fraction; /* 1 in n; <= 0: off */

struct key {
  const uintptr_t *pcs;
  int n;
};

static int event_eq(const void *ctx, uint32_t id, const void *k) {
  const struct event *e = ((const struct table *)ctx)->ev[id];
  const struct key *key = k;
  return e->n == key->n && memcmp(e->pcs, key->pcs, (size_t)key->n * sizeof *key->pcs) == 0;
}

static void record(struct table *t, const uintptr_t *pcs, int n, double count, int64_t delay) {
  uint32_t h = hash_fold(hash_fnv(HASH_FNV_INIT, pcs, (size_t)n * sizeof *pcs));
  struct key k = {pcs, n};
  pthread_mutex_lock(&t->mu);
  int64_t id = hash_find(&t->ix, h, event_eq, t, &k);
  if (id < 0) {
    struct event *e = malloc(sizeof *e + (size_t)n * sizeof *pcs);
    if (!e || hash_reserve(&t->ix) || buf_grow(&t->ev, &t->cap, t->n + 1, sizeof *t->ev)) {
      free(e); /* out of memory: the event is lost, nothing else */
      pthread_mutex_unlock(&t->mu);
      return;
    }
    *e = (struct event){.n = n};
    memcpy(e->pcs, pcs, (size_t)n * sizeof *pcs);
    id = (int64_t)t->n++;
    t->ev[id] = e;
    hash_put(&t->ix, h, (uint32_t)id);
  }
  t->ev[id]->count += count;
  t->ev[id]->delay += delay;
  pthread_mutex_unlock(&t->mu);
}

struct frames {
  uintptr_t pcs[MAX_FRAMES];
  int n, skip;
};

static bool push_frame(void *out, uintptr_t ret) {
  struct frames *f = out;
  if (f->skip > 0) {
    f->skip--;
    return true;
  }
  f->pcs[f->n++] = ret - 1; /* the call site */
  return f->n < MAX_FRAMES;
}

/* The calling goroutine's stack, without the hook's frame and the
 * runtime's that called it (sched_park, sched_mutex_handoff), so that the
 * leaf is the grt call that blocked, or unlocked.  noinline: its frame is
 * where the walk starts. */
__attribute__((noinline)) static int own_stack(struct frames *f) {
  struct g *g = getcurg();
  f->n = 0;
  f->skip = 2;
  if (!g) return 0;
  /* This frame has a frame pointer (it takes its address): its caller's
   * registers are in the frame record, and its CFA is the caller's SP
   * after the return (fp + 16 on x86-64; on aarch64 the record is at the
   * frame's bottom, so only the CFA says). */
  uintptr_t *fp = __builtin_frame_address(0);
  struct unw_regs r = {arch_strip_ra(fp[1]), (uintptr_t)__builtin_dwarf_cfa(), fp[0], 0};
  if (!push_frame(f, r.pc)) return f->n;
  unw_walk(r, false, g->stack_lo, g->stack_hi, unw_read_direct, NULL, push_frame, f, NULL);
  return f->n;
}

/* A uniform 63-bit random number (two of the runtime's cheap 32-bit ones). */
static uint64_t rand63(void) {
  return ((uint64_t)rt_fastrand() << 31) ^ rt_fastrand();
}

void blockprof_blocked(const char *reason, int64_t ns) {
  int64_t rate = atomic_load_explicit(&block_rate, memory_order_relaxed);
  if (rate <= 0 || !reason || strcmp(reason, "sleep") == 0 ||
      strcmp(reason, "select (no cases)") == 0)
    return;
  if (ns < 1) ns = 1;
  if (ns < rate && (int64_t)(rand63() % (uint64_t)rate) >= ns) return;
  struct frames f;
  int n = own_stack(&f);
  if (ns < rate)
    record(&block, f.pcs, n, (double)rate / (double)ns, rate);
  else
    record(&block, f.pcs, n, 1, ns);
}

void blockprof_mutex_handoff(int64_t ns) {
  int frac = atomic_load_explicit(&mutex_fraction, memory_order_relaxed);
  if (frac <= 0) return;
  if (frac > 1 && rt_fastrand() % (uint32_t)frac != 0) return;
  if (ns < 0) ns = 0;
  struct frames f;
  int n = own_stack(&f);
  record(&mutex, f.pcs, n, frac, ns * frac);
}

static void mark_start(struct table *t) {
  pthread_mutex_lock(&t->mu);
  if (!t->since_ns) {
    t->since_ns = realtime_ns();
    t->since_mono = nanotime();
  }
  pthread_mutex_unlock(&t->mu);
}

static void update_watch(void) {
  uint32_t w = (atomic_load(&block_rate) > 0 ? SCHED_WATCH_BLOCK : 0) |
               (atomic_load(&mutex_fraction) > 0 ? SCHED_WATCH_MUTEX : 0);
  atomic_store(&sched_contention_watch, w);
  /* Tables for the walker now, not at the first event on a goroutine. */
  if (w) unw_refresh();
}

void grt_set_block_profile_rate(int64_t rate_ns) {
  if (rate_ns > 0) mark_start(&block);
  atomic_store(&block_rate, rate_ns > 0 ? rate_ns : 0);
  update_watch();
}

int grt_set_mutex_profile_fraction(int n) {
  if (n < 0) return atomic_load(&mutex_fraction);
  if (n > 0) mark_start(&mutex);
  int old = atomic_exchange(&mutex_fraction, n);
  update_watch();
  return old;
}

static struct table *table_of(enum blockprof_which which) {
  return which == BLOCKPROF_MUTEX ? &mutex : &block;
}

int64_t blockprof_rate(enum blockprof_which which) {
  return which == BLOCKPROF_MUTEX ? atomic_load(&mutex_fraction) : atomic_load(&block_rate);
}

void blockprof_set_rate(enum blockprof_which which, int64_t rate) {
  if (which == BLOCKPROF_MUTEX)
    grt_set_mutex_profile_fraction(rate > 0 ? (int)rate : 0);
  else
    grt_set_block_profile_rate(rate);
}

int blockprof_mark(enum blockprof_which which, struct blockprof_mark *m) {
  struct table *t = table_of(which);
  pthread_mutex_lock(&t->mu);
  m->n = t->n;
  m->count = malloc((t->n ? t->n : 1) * sizeof *m->count);
  m->delay = malloc((t->n ? t->n : 1) * sizeof *m->delay);
  for (size_t i = 0; m->count && m->delay && i < t->n; i++) {
    m->count[i] = t->ev[i]->count;
    m->delay[i] = t->ev[i]->delay;
  }
  m->since_mono = nanotime();
  m->since_real = realtime_ns();
  pthread_mutex_unlock(&t->mu);
  if (m->count && m->delay) return 0;
  blockprof_mark_free(m);
  return -ENOMEM;
}

void blockprof_mark_free(struct blockprof_mark *m) {
  free(m->count);
  free(m->delay);
  m->count = NULL;
  m->delay = NULL;
  m->n = 0;
}

/* Writes t, less what it held at since (NULL: all of it), as a
 * contentions/count, delay/nanoseconds profile (Go's period type and
 * period: contentions, 1). */
static int write_table(struct table *t, const struct blockprof_mark *since, int fd) {
  static const char *const types[2] = {"contentions", "delay"};
  static const char *const units[2] = {"count", "nanoseconds"};
  pthread_mutex_lock(&t->mu);
  int64_t start_real = since ? since->since_real : t->since_ns;
  int64_t start_mono = since ? since->since_mono : t->since_mono;
  pprof_writer *w =
      pprof_writer_new_pair(types, units, 0, 1, start_real ? start_real : realtime_ns());
  int err = w ? 0 : -ENOMEM;
  for (size_t i = 0; i < t->n && !err; i++) {
    const struct event *e = t->ev[i];
    double count = e->count;
    int64_t delay = e->delay;
    if (since && i < since->n) {
      count -= since->count[i];
      delay -= since->delay[i];
    }
    if (count < 0.5 && delay <= 0) continue;
    err = pprof_writer_add2(w, e->pcs, e->n, NULL, (int64_t)(count + 0.5), delay);
  }
  pthread_mutex_unlock(&t->mu);
  if (!err) {
    symbolizer *sym = symbolize_open(); /* NULL: addresses only */
    err = pprof_writer_write(w, sym, start_mono ? nanotime() - start_mono : 0, fd);
    if (sym) symbolize_close(sym);
  }
  pprof_writer_free(w);
  return err;
}

struct write_call {
  struct table *t;
  const struct blockprof_mark *since;
  int fd, err;
};

static void *write_ext(void *arg) {
  struct write_call *c = arg;
  c->err = write_table(c->t, c->since, c->fd);
  return NULL;
}

int blockprof_write(enum blockprof_which which, const struct blockprof_mark *since, int fd) {
  if (fd < 0) return -EBADF;
  struct write_call c = {table_of(which), since, fd, 0};
  /* Symbolizing takes a while and a deep stack: on a goroutine it runs as
   * an external call, so the P goes on running the others. */
  grt_extcall(write_ext, &c);
  return c.err;
}

static int write_profile(enum blockprof_which which, int fd, const char *who) {
  if (fd < 0) {
    warn_line("grt: %s: fd %d is not a file descriptor", who, fd);
    return -EBADF;
  }
  return blockprof_write(which, NULL, fd);
}

int grt_block_profile_write(int fd) {
  return write_profile(BLOCKPROF_BLOCK, fd, "grt_block_profile_write");
}

int grt_mutex_profile_write(int fd) {
  return write_profile(BLOCKPROF_MUTEX, fd, "grt_mutex_profile_write");
}
