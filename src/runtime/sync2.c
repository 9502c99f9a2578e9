/*
 * sync2.c - the rest of sync: grt_rwmutex, grt_cond, grt_once, grt_sem.
 *
 * Each keeps its state and its parked goroutines under one small internal
 * lock (waitlock); a goroutine that must wait queues itself and parks with
 * sched_unlock_commit, so the lock is released only once it is parked and
 * no wake-up is lost.  The waker unlinks the waiter (handing it what it
 * waited for: the lock, its units, its turn) under waitlock and readies it
 * after releasing waitlock.
 *
 * grt_rwmutex: readers and writer counts; parked readers (a list) and
 * writers (FIFO).  A waiting writer stops new readers (writer preference);
 * the last reader out hands the lock to the first writer; a writer's
 * unlock admits every parked reader, else hands over to the next writer.
 *
 * grt_cond: Go's notifyList.  Each waiter takes a ticket; signal wakes the
 * smallest ticket not yet woken, broadcast all.  Goroutines park in ticket
 * order; threads outside the runtime spin until their ticket is notified.
 *
 * grt_once: a done flag (acquire load fast path) and a grt_mutex.
 * grt_sem: a count and a FIFO of parked waiters, each wanting n units.
 *
 * Threads that are not goroutines spin with backoff instead of parking.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

/* Readies a list of Gs linked by waitlink. */
static void sync2_ready_list(struct g *w) {
  while (w) {
    struct g *next = w->waitlink;
    sched_ready(w);
    w = next;
  }
}

/* ---- grt_rwmutex ---------------------------------------------------------- */

static bool rw_tryrlock_locked(grt_rwmutex *rw) {
  if (rw->writer || rw->wwaiting > 0) return false;
  rw->readers++;
  return true;
}

static bool rw_trylock_locked(grt_rwmutex *rw) {
  if (rw->writer || rw->readers > 0) return false;
  rw->writer = 1;
  return true;
}

int grt_rwmutex_tryrlock(grt_rwmutex *rw) {
  if (sync_null(rw, "grt_rwmutex_tryrlock", "the rwmutex")) return 0;
  rt_lock_acquire(sync_lock_of(&rw->waitlock));
  bool ok = rw_tryrlock_locked(rw);
  rt_lock_release(sync_lock_of(&rw->waitlock));
  return ok;
}

int grt_rwmutex_trylock(grt_rwmutex *rw) {
  if (sync_null(rw, "grt_rwmutex_trylock", "the rwmutex")) return 0;
  rt_lock_acquire(sync_lock_of(&rw->waitlock));
  bool ok = rw_trylock_locked(rw);
  rt_lock_release(sync_lock_of(&rw->waitlock));
  return ok;
}

void grt_rwmutex_rlock(grt_rwmutex *rw) {
  RT_ENTER();
  if (sync_null(rw, "grt_rwmutex_rlock", "the rwmutex")) return;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !grt_rwmutex_tryrlock(rw);)
      sync_backoff(&spins);
    return;
  }
  rt_lock_acquire(sync_lock_of(&rw->waitlock));
  if (rw_tryrlock_locked(rw)) {
    rt_lock_release(sync_lock_of(&rw->waitlock));
    return;
  }
  gp->waitlink = rw->rhead;
  rw->rhead = gp;
  sched_park(sched_unlock_commit, sync_lock_of(&rw->waitlock), "sync.RWMutex.RLock");
  /* Woken by unlock: counted as a reader already. */
}

void grt_rwmutex_lock(grt_rwmutex *rw) {
  RT_ENTER();
  if (sync_null(rw, "grt_rwmutex_lock", "the rwmutex")) return;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !grt_rwmutex_trylock(rw);)
      sync_backoff(&spins);
    return;
  }
  rt_lock_acquire(sync_lock_of(&rw->waitlock));
  if (rw_trylock_locked(rw)) {
    rt_lock_release(sync_lock_of(&rw->waitlock));
    return;
  }
  gp->waitlink = NULL;
  if (rw->wtail)
    ((struct g *)rw->wtail)->waitlink = gp;
  else
    rw->whead = gp;
  rw->wtail = gp;
  rw->wwaiting++;
  sched_park(sched_unlock_commit, sync_lock_of(&rw->waitlock), "sync.RWMutex.Lock");
  /* Woken by runlock or unlock: the lock was handed to us. */
}

/* Under waitlock, with no holder: hands the lock to the first parked
 * writer; returns it (to ready) or NULL. */
static struct g *rw_pop_writer(grt_rwmutex *rw) {
  struct g *w = rw->whead;
  if (!w) return NULL;
  rw->whead = w->waitlink;
  if (!rw->whead) rw->wtail = NULL;
  rw->wwaiting--;
  rw->writer = 1;
  w->waitlink = NULL;
  return w;
}

void grt_rwmutex_runlock(grt_rwmutex *rw) {
  RT_ENTER();
  if (sync_null(rw, "grt_rwmutex_runlock", "the rwmutex")) return;
  rt_lock_acquire(sync_lock_of(&rw->waitlock));
  if (rw->readers <= 0) {
    rt_lock_release(sync_lock_of(&rw->waitlock));
    warn_line("grt: grt_rwmutex_runlock of an rwmutex not read-locked %p", (void *)rw);
    return;
  }
  struct g *w = NULL;
  if (--rw->readers == 0) w = rw_pop_writer(rw);
  rt_lock_release(sync_lock_of(&rw->waitlock));
  if (w) sched_ready(w);
}

void grt_rwmutex_unlock(grt_rwmutex *rw) {
  RT_ENTER();
  if (sync_null(rw, "grt_rwmutex_unlock", "the rwmutex")) return;
  rt_lock_acquire(sync_lock_of(&rw->waitlock));
  if (!rw->writer) {
    rt_lock_release(sync_lock_of(&rw->waitlock));
    warn_line("grt: grt_rwmutex_unlock of an rwmutex not write-locked %p", (void *)rw);
    return;
  }
  rw->writer = 0;
  struct g *w = rw->rhead;
  if (w) {
    rw->rhead = NULL;
    for (struct g *r = w; r; r = r->waitlink)
      rw->readers++;
  } else {
    w = rw_pop_writer(rw);
  }
  rt_lock_release(sync_lock_of(&rw->waitlock));
  sync2_ready_list(w);
}

/* ---- grt_cond ------------------------------------------------------------- */

struct cond_waiter {
  struct g *gp;
  uint32_t ticket;
  struct cond_waiter *next;
};

static _Atomic uint32_t *cond_notified(grt_cond *c) {
  return (_Atomic uint32_t *)&c->notify_ticket;
}

/* Has ticket t been notified?  (Wrap-safe, as Go's less().) */
static bool cond_done(grt_cond *c, uint32_t t) {
  return (int32_t)(t - atomic_load(cond_notified(c))) < 0;
}

void grt_cond_wait(grt_cond *c, grt_mutex *m) {
  RT_ENTER();
  if (sync_null(c, "grt_cond_wait", "the cond")) return;
  if (sync_null(m, "grt_cond_wait", "the mutex")) return;
  struct g *gp = getcurg();
  rt_lock_acquire(sync_lock_of(&c->waitlock));
  uint32_t t = c->wait_ticket++;
  if (!gp) {
    rt_lock_release(sync_lock_of(&c->waitlock));
    grt_mutex_unlock(m);
    for (int spins = 0; !cond_done(c, t);)
      sync_backoff(&spins);
    grt_mutex_lock(m);
    return;
  }
  struct cond_waiter w = {.gp = gp, .ticket = t, .next = NULL};
  if (c->tail)
    ((struct cond_waiter *)c->tail)->next = &w;
  else
    c->head = &w;
  c->tail = &w;
  /* Unlocked while we are queued and hold waitlock: no signal is lost. */
  grt_mutex_unlock(m);
  sched_park(sched_unlock_commit, sync_lock_of(&c->waitlock), "sync.Cond.Wait");
  grt_mutex_lock(m);
}

void grt_cond_signal(grt_cond *c) {
  RT_ENTER();
  if (sync_null(c, "grt_cond_signal", "the cond")) return;
  rt_lock_acquire(sync_lock_of(&c->waitlock));
  if (c->wait_ticket == c->notify_ticket) {
    rt_lock_release(sync_lock_of(&c->waitlock));
    return;
  }
  uint32_t t = c->notify_ticket;
  atomic_store(cond_notified(c), t + 1);
  struct cond_waiter *w = c->head;
  struct g *gp = NULL;
  if (w && w->ticket == t) { /* else ticket t is a thread spinning */
    c->head = w->next;
    if (!c->head) c->tail = NULL;
    gp = w->gp; /* w is on gp's stack: not touched after it is readied */
  }
  rt_lock_release(sync_lock_of(&c->waitlock));
  if (gp) sched_ready(gp);
}

void grt_cond_broadcast(grt_cond *c) {
  RT_ENTER();
  if (sync_null(c, "grt_cond_broadcast", "the cond")) return;
  rt_lock_acquire(sync_lock_of(&c->waitlock));
  atomic_store(cond_notified(c), c->wait_ticket);
  struct cond_waiter *w = c->head;
  c->head = c->tail = NULL;
  struct g *list = NULL, **tailp = &list;
  for (; w; w = w->next) {
    *tailp = w->gp;
    tailp = &w->gp->waitlink;
  }
  *tailp = NULL;
  rt_lock_release(sync_lock_of(&c->waitlock));
  sync2_ready_list(list);
}

/* ---- grt_once ------------------------------------------------------------- */

/* No RT_ENTER here: fn is the user's code and must run unmarked (sysmon
 * may then hand off the P of an fn that blocks); the mutex calls mark. */
int grt_once_do(grt_once *o, void (*fn)(void *), void *arg) {
  if (sync_null(o, "grt_once_do", "the once")) return -EINVAL;
  if (sync_null((const void *)(uintptr_t)fn, "grt_once_do", "the function")) return -EINVAL;
  _Atomic uint32_t *done = (_Atomic uint32_t *)&o->done;
  if (atomic_load_explicit(done, memory_order_acquire)) return 0;
  grt_mutex_lock(&o->m);
  if (!atomic_load_explicit(done, memory_order_relaxed)) {
    fn(arg);
    atomic_store_explicit(done, 1, memory_order_release);
  }
  grt_mutex_unlock(&o->m);
  return 0;
}

/* ---- grt_sem -------------------------------------------------------------- */

struct sem_waiter {
  struct g *gp;
  int64_t n;
  struct sem_waiter *next;
  grt_sem *s;
  int err;            /* set by the context's wake if it unqueued this waiter */
  struct ctx_wait cw; /* grt_sem_acquire_ctx's */
};

static bool sem_bad_n(int64_t n, const char *call) {
  if (n >= 0) return false;
  warn_line("grt: %s: negative count %lld", call, (long long)n);
  return true;
}

int grt_sem_init(grt_sem *s, int64_t n) {
  if (sync_null(s, "grt_sem_init", "the semaphore")) return -EINVAL;
  if (sem_bad_n(n, "grt_sem_init")) return -EINVAL;
  *s = (grt_sem)GRT_SEM_INIT(n);
  return 0;
}

/* Under waitlock: serves the queue's head while the count covers it, and
 * returns the Gs served (linked by waitlink) to ready after the unlock. */
static struct g *sem_serve_locked(grt_sem *s) {
  struct g *list = NULL, **tailp = &list;
  struct sem_waiter *w;
  while ((w = s->head) && s->count >= w->n) {
    s->count -= w->n;
    s->head = w->next;
    *tailp = w->gp;
    tailp = &w->gp->waitlink;
  }
  if (!s->head) s->tail = NULL;
  *tailp = NULL;
  return list;
}

/* Under waitlock: takes n now if no one waits before us. */
static bool sem_take_locked(grt_sem *s, int64_t n) {
  if (s->head || s->count < n) return false;
  s->count -= n;
  return true;
}

int grt_sem_tryacquire(grt_sem *s, int64_t n) {
  if (sync_null(s, "grt_sem_tryacquire", "the semaphore")) return 0;
  if (sem_bad_n(n, "grt_sem_tryacquire")) return 0;
  rt_lock_acquire(sync_lock_of(&s->waitlock));
  bool ok = sem_take_locked(s, n);
  rt_lock_release(sync_lock_of(&s->waitlock));
  return ok;
}

int grt_sem_acquire(grt_sem *s, int64_t n) {
  RT_ENTER();
  if (sync_null(s, "grt_sem_acquire", "the semaphore")) return -EINVAL;
  if (sem_bad_n(n, "grt_sem_acquire")) return -EINVAL;
  if (n == 0) return 0;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !grt_sem_tryacquire(s, n);)
      sync_backoff(&spins);
    return 0;
  }
  rt_lock_acquire(sync_lock_of(&s->waitlock));
  if (sem_take_locked(s, n)) {
    rt_lock_release(sync_lock_of(&s->waitlock));
    return 0;
  }
  struct sem_waiter w = {.gp = gp, .n = n, .next = NULL};
  if (s->tail)
    ((struct sem_waiter *)s->tail)->next = &w;
  else
    s->head = &w;
  s->tail = &w;
  sched_park(sched_unlock_commit, sync_lock_of(&s->waitlock), "semacquire");
  return 0; /* release took our n units for us */
}

int grt_sem_release(grt_sem *s, int64_t n) {
  RT_ENTER();
  if (sync_null(s, "grt_sem_release", "the semaphore")) return -EINVAL;
  if (sem_bad_n(n, "grt_sem_release")) return -EINVAL;
  rt_lock_acquire(sync_lock_of(&s->waitlock));
  int64_t c;
  if (__builtin_add_overflow(s->count, n, &c)) {
    rt_lock_release(sync_lock_of(&s->waitlock));
    warn_line("grt: grt_sem_release: count overflow (%lld + %lld)", (long long)s->count,
              (long long)n);
    return -EINVAL;
  }
  s->count = c;
  struct g *list = sem_serve_locked(s);
  rt_lock_release(sync_lock_of(&s->waitlock));
  sync2_ready_list(list);
  return 0;
}

/* grt_sem_acquire_ctx's waiter, woken by its context: leaves the queue if
 * it is still in it.  If it was first, the ones behind it may now be
 * served with what is there. */
static void sem_ctx_wake(struct ctx_wait *cw, int err) {
  struct sem_waiter *w = CTX_WAITER(cw, struct sem_waiter, cw);
  grt_sem *s = w->s;
  struct g *gp = w->gp;
  rt_lock_acquire(sync_lock_of(&s->waitlock));
  struct sem_waiter *prev = NULL, *it = s->head;
  while (it && it != w) {
    prev = it;
    it = it->next;
  }
  struct g *list = NULL;
  if (it) {
    if (prev)
      prev->next = w->next;
    else
      s->head = w->next;
    if (s->tail == w) s->tail = prev;
    w->err = err;
    list = sem_serve_locked(s);
  }
  rt_lock_release(sync_lock_of(&s->waitlock));
  if (it) sched_ready(gp);
  sync2_ready_list(list);
}

int grt_sem_acquire_ctx(grt_sem *s, int64_t n, grt_ctx *ctx) {
  RT_ENTER();
  if (sync_null(s, "grt_sem_acquire_ctx", "the semaphore")) return -EINVAL;
  if (sem_bad_n(n, "grt_sem_acquire_ctx")) return -EINVAL;
  int err = ctx_arg(ctx, "grt_sem_acquire_ctx");
  if (err) return err;
  if (n == 0) return 0;
  struct g *gp = getcurg();
  if (!gp) {
    for (int spins = 0; !grt_sem_tryacquire(s, n);) {
      if ((err = grt_ctx_err(ctx))) return err;
      sync_backoff(&spins);
    }
    return 0;
  }
  rt_lock_acquire(sync_lock_of(&s->waitlock));
  if (sem_take_locked(s, n)) {
    rt_lock_release(sync_lock_of(&s->waitlock));
    return 0;
  }
  struct sem_waiter w = {.gp = gp, .n = n, .next = NULL, .s = s, .err = 0};
  if ((err = ctx_watch(ctx, &w.cw, sem_ctx_wake))) {
    rt_lock_release(sync_lock_of(&s->waitlock));
    return err;
  }
  if (s->tail)
    ((struct sem_waiter *)s->tail)->next = &w;
  else
    s->head = &w;
  s->tail = &w;
  sched_park(sched_unlock_commit, sync_lock_of(&s->waitlock), "semacquire");
  ctx_unwatch(&w.cw);
  return w.err; /* 0: release took our n units for us */
}
