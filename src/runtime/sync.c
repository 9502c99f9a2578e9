/*
 * sync.c - grt_mutex and grt_wg: blocking goroutines park, their M runs
 * other goroutines.
 *
 * grt_mutex state bits: LOCKED, WAITERS.  Uncontended lock and unlock are
 * one CAS each.  Contended: waiters queue FIFO under the mutex's small
 * internal lock (waitlock), and unlock hands ownership directly to the
 * first waiter (the state stays LOCKED), so a woken goroutine never has to
 * compete again and no waiter starves.
 *
 * grt_wg: the counter is atomic; waiters queue under waitlock.  A done that
 * brings the counter to zero takes waitlock and wakes every waiter; a
 * waiter checks the counter under waitlock before parking, so no wakeup is
 * lost between its check and its park.
 *
 * Threads that are not goroutines may use both: they spin with backoff
 * instead of parking.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#define MUTEX_LOCKED 1u
#define MUTEX_WAITERS 2u

static _Atomic uint32_t *atomic_u32(uint32_t *p) {
  return (_Atomic uint32_t *)p;
}
rt_lock *sync_lock_of(uint32_t *p) {
  return (rt_lock *)p;
}

void sync_backoff(int *spins) {
  if (*spins < 64) {
    (*spins)++;
    sched_yield();
    return;
  }
  struct timespec ts = {0, 50000};
  nanosleep(&ts, NULL);
}

/* A NULL object: one line naming the call (grt.h: never a crash). */
bool sync_null(const void *p, const char *call, const char *what) {
  if (p) return false;
  warn_line("grt: %s: %s is NULL", call, what);
  return true;
}

static bool try_acquire(grt_mutex *m) {
  uint32_t zero = 0;
  return atomic_compare_exchange_strong_explicit(atomic_u32(&m->state), &zero, MUTEX_LOCKED,
                                                 memory_order_acquire, memory_order_relaxed);
}

/* 0 for NULL (with its line): never "acquired". */
int grt_mutex_trylock(grt_mutex *m) {
  if (sync_null(m, "grt_mutex_trylock", "the mutex")) return 0;
  return try_acquire(m);
}

/* Under waitlock: takes the mutex if it is free (true), else marks it as
 * having waiters (false), so unlock looks at the queue. */
static bool lock_or_mark(_Atomic uint32_t *state) {
  uint32_t s = atomic_load(state);
  for (;;) {
    if (!(s & MUTEX_LOCKED)) {
      if (atomic_compare_exchange_weak(state, &s, s | MUTEX_LOCKED)) return true;
      continue;
    }
    if (atomic_compare_exchange_weak(state, &s, s | MUTEX_WAITERS)) return false;
  }
}

/* Under waitlock: gp waits last in m's queue.  blockstart says since when,
 * for the mutex profile's unlocker (0: not timed; the block profile's park
 * sets it again, to the same moment). */
static void queue_waiter(grt_mutex *m, struct g *gp) {
  gp->waitlink = NULL;
  if (m->tail)
    ((struct g *)m->tail)->waitlink = gp;
  else
    m->head = gp;
  m->tail = gp;
  gp->blockstart =
      atomic_load_explicit(&sched_contention_watch, memory_order_relaxed) & SCHED_WATCH_MUTEX
          ? nanotime()
          : 0;
}

void grt_mutex_lock(grt_mutex *m) {
  RT_ENTER();
  if (sync_null(m, "grt_mutex_lock", "the mutex")) return;
  if (try_acquire(m)) return;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !try_acquire(m);)
      sync_backoff(&spins);
    return;
  }
  rt_lock_acquire(sync_lock_of(&m->waitlock));
  if (lock_or_mark(atomic_u32(&m->state))) {
    rt_lock_release(sync_lock_of(&m->waitlock));
    return;
  }
  queue_waiter(m, gp);
  sched_park(sched_unlock_commit, sync_lock_of(&m->waitlock), "mutex");
  /* Woken by unlock: ownership was handed to us. */
}

void grt_mutex_unlock(grt_mutex *m) {
  RT_ENTER();
  if (sync_null(m, "grt_mutex_unlock", "the mutex")) return;
  _Atomic uint32_t *state = atomic_u32(&m->state);
  uint32_t s = MUTEX_LOCKED;
  if (atomic_compare_exchange_strong_explicit(state, &s, 0, memory_order_release,
                                              memory_order_relaxed))
    return;
  if (!(s & MUTEX_LOCKED)) {
    warn_line("grt: grt_mutex_unlock of an unlocked mutex %p", (void *)m);
    return;
  }
  rt_lock_acquire(sync_lock_of(&m->waitlock));
  struct g *w = m->head;
  if (w) {
    m->head = w->waitlink;
    if (!m->head) {
      m->tail = NULL;
      atomic_store(state, MUTEX_LOCKED); /* handed off; no waiters left */
    }
  } else {
    atomic_store_explicit(state, 0, memory_order_release);
  }
  rt_lock_release(sync_lock_of(&m->waitlock));
  if (!w) return;
  /* The mutex profile charges the wait to this unlocker, as Go's does:
   * its critical section is what kept the waiter waiting.  blockstart is
   * read before the waiter can run and park again. */
  int64_t since =
      (atomic_load_explicit(&sched_contention_watch, memory_order_relaxed) & SCHED_WATCH_MUTEX)
          ? w->blockstart
          : 0;
  sched_ready(w);
  if (since) sched_mutex_handoff(nanotime() - since);
}

static _Atomic int64_t *wg_count(grt_wg *wg) {
  return (_Atomic int64_t *)&wg->count;
}

static void wg_add(grt_wg *wg, int n, const char *call) {
  int64_t v = atomic_fetch_add(wg_count(wg), n) + n;
  if (v < 0) {
    atomic_fetch_sub(wg_count(wg), n);
    warn_line("grt: %s: negative wait group counter (%lld); change ignored", call, (long long)v);
    return;
  }
  if (v > 0 || n == 0) return;
  rt_lock_acquire(sync_lock_of(&wg->waitlock));
  struct g *w = wg->waiters;
  wg->waiters = NULL;
  rt_lock_release(sync_lock_of(&wg->waitlock));
  while (w) {
    struct g *next = w->waitlink;
    sched_ready(w);
    w = next;
  }
}

void grt_wg_add(grt_wg *wg, int n) {
  RT_ENTER();
  if (sync_null(wg, "grt_wg_add", "the wait group")) return;
  wg_add(wg, n, "grt_wg_add");
}

void grt_wg_done(grt_wg *wg) {
  RT_ENTER();
  if (sync_null(wg, "grt_wg_done", "the wait group")) return;
  wg_add(wg, -1, "grt_wg_done");
}

void grt_wg_wait(grt_wg *wg) {
  RT_ENTER();
  if (sync_null(wg, "grt_wg_wait", "the wait group")) return;
  if (atomic_load(wg_count(wg)) == 0) return;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; atomic_load(wg_count(wg)) != 0;)
      sync_backoff(&spins);
    return;
  }
  rt_lock_acquire(sync_lock_of(&wg->waitlock));
  if (atomic_load(wg_count(wg)) == 0) {
    rt_lock_release(sync_lock_of(&wg->waitlock));
    return;
  }
  gp->waitlink = wg->waiters;
  wg->waiters = gp;
  sched_park(sched_unlock_commit, sync_lock_of(&wg->waitlock), "wait group");
}

/* ---- grt_mutex_lock_timeout ----
 * The waiter queues as grt_mutex_lock does and arms a timer (on its own
 * stack) while it holds waitlock, so the timer's callback, which takes
 * waitlock, runs only after the park.  Whoever finds the waiter in the
 * queue under waitlock decides: unlock hands it the mutex, the callback
 * unlinks it (timed out).  The callback may still be running when the
 * waiter wakes (handed the mutex and the timer already fired): the waiter
 * waits for its 'done' before its stack frame goes away. */
struct timed_wait {
  grt_mutex *m;
  struct g *gp;
  struct timer t;
  bool timedout;
  _Atomic bool done;
};

/* Under waitlock: takes gp out of m's queue.  False if it is not there
 * (unlock handed it the mutex already). */
static bool mutex_unqueue(grt_mutex *m, struct g *gp) {
  struct g *prev = NULL, *it = m->head;
  while (it && it != gp) {
    prev = it;
    it = it->waitlink;
  }
  if (!it) return false;
  if (prev)
    prev->waitlink = gp->waitlink;
  else
    m->head = gp->waitlink;
  if (m->tail == gp) m->tail = prev;
  if (!m->head) atomic_fetch_and(atomic_u32(&m->state), ~MUTEX_WAITERS);
  return true;
}

static void lock_timeout_fire(void *arg) {
  struct timed_wait *w = arg;
  grt_mutex *m = w->m;
  struct g *gp = w->gp;
  rt_lock_acquire(sync_lock_of(&m->waitlock));
  bool it = mutex_unqueue(m, gp);
  if (it) w->timedout = true;
  rt_lock_release(sync_lock_of(&m->waitlock));
  atomic_store(&w->done, true); /* w is not touched after this */
  if (it) sched_ready(gp);
}

int grt_mutex_lock_timeout(grt_mutex *m, int64_t ns) {
  RT_ENTER();
  if (sync_null(m, "grt_mutex_lock_timeout", "the mutex")) return -EINVAL;
  if (try_acquire(m)) return 0;
  if (ns <= 0) return -ETIMEDOUT;
  int64_t deadline = deadline_after(ns);
  if (deadline == DEADLINE_NEVER) {
    grt_mutex_lock(m);
    return 0;
  }
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !try_acquire(m);) {
      if (nanotime() >= deadline) return -ETIMEDOUT;
      sync_backoff(&spins);
    }
    return 0;
  }
  rt_lock_acquire(sync_lock_of(&m->waitlock));
  if (lock_or_mark(atomic_u32(&m->state))) {
    rt_lock_release(sync_lock_of(&m->waitlock));
    return 0;
  }
  struct timed_wait w = {.m = m, .gp = gp, .t = {.idx = -1}, .timedout = false};
  atomic_init(&w.done, false);
  queue_waiter(m, gp);
  w.t.f = lock_timeout_fire;
  w.t.arg = &w;
  timer_add(&w.t, deadline); /* its callback waits for waitlock: after we park */
  sched_park(sched_unlock_commit, sync_lock_of(&m->waitlock), "mutex");
  if (!timer_del(&w.t)) {
    for (int spins = 0; !atomic_load(&w.done);)
      sync_backoff(&spins);
  }
  return w.timedout ? -ETIMEDOUT : 0;
}

/* ---- grt_mutex_lock_ctx ----
 * As grt_mutex_lock_timeout, with the context's cancellation (context.c's
 * ctx_watch, under waitlock) in the place of the timer: the context's wake
 * and unlock decide under waitlock, and ctx_unwatch waits out a wake still
 * running before the frame goes. */
struct ctx_lock_wait {
  grt_mutex *m;
  struct g *gp;
  int err; /* set by the context's wake if it unqueued us */
  struct ctx_wait cw;
};

static void lock_ctx_wake(struct ctx_wait *cw, int err) {
  struct ctx_lock_wait *w = CTX_WAITER(cw, struct ctx_lock_wait, cw);
  struct g *gp = w->gp;
  rt_lock_acquire(sync_lock_of(&w->m->waitlock));
  bool it = mutex_unqueue(w->m, gp);
  if (it) w->err = err;
  rt_lock_release(sync_lock_of(&w->m->waitlock));
  if (it) sched_ready(gp);
}

int grt_mutex_lock_ctx(grt_mutex *m, grt_ctx *ctx) {
  RT_ENTER();
  if (sync_null(m, "grt_mutex_lock_ctx", "the mutex")) return -EINVAL;
  int err = ctx_arg(ctx, "grt_mutex_lock_ctx");
  if (err) return err;
  if (try_acquire(m)) return 0;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !try_acquire(m);) {
      if ((err = grt_ctx_err(ctx))) return err;
      sync_backoff(&spins);
    }
    return 0;
  }
  rt_lock_acquire(sync_lock_of(&m->waitlock));
  if (lock_or_mark(atomic_u32(&m->state))) {
    rt_lock_release(sync_lock_of(&m->waitlock));
    return 0;
  }
  struct ctx_lock_wait w = {.m = m, .gp = gp, .err = 0};
  if ((err = ctx_watch(ctx, &w.cw, lock_ctx_wake))) {
    /* Done meanwhile: not queued.  WAITERS may be left set with no waiter;
     * unlock then takes its slow path once and clears it. */
    rt_lock_release(sync_lock_of(&m->waitlock));
    return err;
  }
  queue_waiter(m, gp);
  sched_park(sched_unlock_commit, sync_lock_of(&m->waitlock), "mutex");
  ctx_unwatch(&w.cw);
  return w.err; /* 0: unlock handed us the mutex */
}
