/*
 * timerchan.c - timers and tickers that are channels (Go's time.Timer,
 * time.Ticker, time.After), on the P timer heaps: a pending timer costs a
 * heap slot, no goroutine.
 *
 * Invariants:
 *  - A timer's state (PENDING, IDLE, DEAD) and period change under its
 *    lock.  A PENDING timer is in a heap, or in transit: taken out by
 *    timer_run, its fire() about to take the lock.  fire() sends only if it
 *    finds the timer PENDING with the generation it was armed with, so a
 *    stop or reset that came first wins.
 *  - References: the owner's (until grt_timer_free; an "after" has none),
 *    and one while PENDING (the heap's, dropped by fire() or by the stop
 *    that took it out).  The last one frees the timer and drops its
 *    reference to the channel, which the owner may still hold.
 *  - fire() runs on g0 with a P and sends without blocking (chan_try_send):
 *    the channel holds one value, and a tick that finds it full is dropped,
 *    as in Go.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>

enum { T_IDLE, T_PENDING, T_DEAD };

struct grt_timer {
  struct timer t;
  rt_lock mu;
  _Atomic uint32_t refs;
  int state;
  uint32_t gen, armed_gen; /* bumped by stop and reset; the armed one */
  int64_t period;          /* ticker: the period; 0: one-shot */
  grt_chan *c;
};

static void timer_unref(struct grt_timer *t) {
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  grt_chan_release(t->c);
  free(t);
}

static void fire(void *arg);

/* Under t->mu, from a goroutine (its M holds a P): arm for now + ns. */
static void arm(struct grt_timer *t, int64_t ns) {
  t->state = T_PENDING;
  t->armed_gen = ++t->gen;
  atomic_fetch_add(&t->refs, 1); /* the heap's */
  t->t.f = fire;
  t->t.arg = t;
  timer_add(&t->t, deadline_after(ns < 1 ? 1 : ns));
}

static void fire(void *arg) {
  struct grt_timer *t = arg;
  rt_lock_acquire(&t->mu);
  if (t->state == T_PENDING && t->gen == t->armed_gen) {
    int64_t now = nanotime();
    chan_try_send(t->c, &now);
    if (t->period > 0) { /* a ticker: again, from its deadline (no drift) */
      t->t.when += t->period;
      if (t->t.when <= now) t->t.when = now + t->period;
      atomic_fetch_add(&t->refs, 1);
      timer_add(&t->t, t->t.when);
    } else {
      t->state = T_IDLE;
    }
  }
  rt_lock_release(&t->mu);
  timer_unref(t); /* the heap's reference for this firing */
}

/* Under t->mu: takes t out of its heap, or waits out a fire() in transit.
 * Returns with the lock held; true if t was pending. */
static bool disarm(struct grt_timer *t) {
  for (;;) {
    if (t->state != T_PENDING) return false;
    if (timer_del(&t->t)) {
      t->state = T_IDLE;
      t->gen++;
      atomic_fetch_sub(&t->refs, 1); /* the heap's; the owner still holds one */
      return true;
    }
    /* In transit: fire() is about to take the lock.  A stale generation
     * makes it send nothing; let it drop its reference. */
    t->gen++;
    t->state = T_IDLE;
    return true;
  }
}

static bool in_goroutine(const char *call) {
  if (getcurg()) return true;
  warn_line("grt: %s called outside a goroutine (timers live on a P's heap)", call);
  return false;
}

static grt_timer *make(int64_t ns, int64_t period, const char *call) {
  RT_ENTER();
  if (!in_goroutine(call)) {
    errno = EPERM;
    return NULL;
  }
  struct grt_timer *t = calloc(1, sizeof *t);
  grt_chan *c = grt_chan_make(sizeof(int64_t), 1);
  if (!t || !c) {
    free(t);
    grt_chan_release(c);
    errno = ENOMEM;
    return NULL;
  }
  t->t.idx = -1;
  t->c = c;
  t->period = period;
  atomic_init(&t->refs, 1); /* the owner's */
  rt_lock_acquire(&t->mu);
  arm(t, ns);
  rt_lock_release(&t->mu);
  return t;
}

grt_timer *grt_timer_make(int64_t ns) {
  return make(ns, 0, "grt_timer_make");
}

grt_timer *grt_ticker_make(int64_t period_ns) {
  if (period_ns <= 0) {
    warn_line("grt: grt_ticker_make: the period must be positive (got %lld)", (long long)period_ns);
    errno = EINVAL;
    return NULL;
  }
  return make(period_ns, period_ns, "grt_ticker_make");
}

grt_chan *grt_timer_chan(grt_timer *t) {
  if (!t) {
    warn_line("grt: grt_timer_chan: NULL timer");
    errno = EINVAL;
    return NULL;
  }
  return t->c;
}

int grt_timer_stop(grt_timer *t) {
  RT_ENTER();
  if (!t) {
    warn_line("grt: grt_timer_stop: NULL timer");
    return -EINVAL;
  }
  rt_lock_acquire(&t->mu);
  bool was = disarm(t);
  rt_lock_release(&t->mu);
  return was;
}

int grt_timer_reset(grt_timer *t, int64_t ns) {
  RT_ENTER();
  if (!t) {
    warn_line("grt: grt_timer_reset: NULL timer");
    return -EINVAL;
  }
  if (!in_goroutine("grt_timer_reset")) return -EPERM;
  rt_lock_acquire(&t->mu);
  bool was = disarm(t);
  arm(t, t->period > 0 && ns <= 0 ? t->period : ns);
  rt_lock_release(&t->mu);
  return was;
}

void grt_timer_free(grt_timer *t) {
  RT_ENTER();
  if (!t) return;
  rt_lock_acquire(&t->mu);
  disarm(t);
  t->state = T_DEAD;
  rt_lock_release(&t->mu);
  timer_unref(t); /* the owner's */
}

grt_chan *grt_after(int64_t ns) {
  grt_timer *t = make(ns, 0, "grt_after");
  if (!t) return NULL;
  grt_chan *c = grt_chan_retain(t->c); /* the caller's */
  timer_unref(t);                      /* no owner: it frees itself once fired */
  return c;
}
