/*
 * time.c - per-P timer heaps (Go 1.14+) and grt_sleep.
 *
 * Each P owns a binary min-heap of timers keyed on `when`, guarded by the
 * P's timerlock.  A timer stays in the heap of the P it was added on; any M
 * running findrunnable runs the due timers of every P (so a P busy with a
 * long-running G does not delay its sleepers), and an M with nothing to do
 * sleeps until the earliest `when` over all Ps.  p->timer0when mirrors the
 * heap's minimum so that check costs one atomic load per P, with no lock.
 *
 * A timer's f runs with no timer lock held, on g0 of an M that holds a P.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static bool heap_less(struct timer **h, int a, int b) {
  return h[a]->when < h[b]->when;
}

static void heap_swap(struct timer **h, int a, int b) {
  struct timer *t = h[a];
  h[a] = h[b];
  h[b] = t;
  h[a]->idx = a;
  h[b]->idx = b;
}

static void sift_up(struct timer **h, int i) {
  while (i > 0 && heap_less(h, i, (i - 1) / 2)) {
    heap_swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void sift_down(struct timer **h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_less(h, l, m)) m = l;
    if (r < n && heap_less(h, r, m)) m = r;
    if (m == i) return;
    heap_swap(h, i, m);
    i = m;
  }
}

static void update_timer0(struct p *pp) {
  atomic_store_explicit(&pp->timer0when, pp->ntimers ? pp->timers[0]->when : 0,
                        memory_order_release);
}

/* Removes heap[i] (timerlock held). */
static void heap_remove(struct p *pp, int i) {
  struct timer **h = pp->timers;
  int last = --pp->ntimers;
  h[i]->idx = -1;
  h[i]->pp = NULL;
  if (i != last) {
    h[i] = h[last];
    h[i]->idx = i;
    sift_down(h, last, i);
    sift_up(h, i);
  }
}

void timer_add(struct timer *t, int64_t when) {
  struct p *pp = getm()->p;
  rt_lock_acquire(&pp->timerlock);
  if (pp->ntimers == pp->timercap) {
    int cap = pp->timercap ? pp->timercap * 2 : 64;
    struct timer **nt = realloc(pp->timers, cap * sizeof *nt);
    if (!nt) {
      rt_lock_release(&pp->timerlock);
      warn_fatal("out of memory growing a timer heap");
    }
    pp->timers = nt;
    pp->timercap = cap;
  }
  t->when = when;
  t->pp = pp;
  t->idx = pp->ntimers++;
  pp->timers[t->idx] = t;
  sift_up(pp->timers, t->idx);
  update_timer0(pp);
  rt_lock_release(&pp->timerlock);
  sched_timer_added(when);
}

bool timer_del(struct timer *t) {
  for (;;) {
    struct p *pp = __atomic_load_n(&t->pp, __ATOMIC_ACQUIRE);
    if (!pp) return false;
    rt_lock_acquire(&pp->timerlock);
    if (t->pp == pp) {
      heap_remove(pp, t->idx);
      update_timer0(pp);
      rt_lock_release(&pp->timerlock);
      return true;
    }
    rt_lock_release(&pp->timerlock);
  }
}

int64_t timer_run(struct p *pp, int64_t now) {
  rt_lock_acquire(&pp->timerlock);
  while (pp->ntimers && pp->timers[0]->when <= now) {
    struct timer *t = pp->timers[0];
    heap_remove(pp, 0);
    update_timer0(pp);
    rt_lock_release(&pp->timerlock);
    t->f(t->arg);
    rt_lock_acquire(&pp->timerlock);
  }
  int64_t next = pp->ntimers ? pp->timers[0]->when : 0;
  rt_lock_release(&pp->timerlock);
  return next;
}

/* ---- grt_sleep ---------------------------------------------------------- */

/* Behind the P's queue, not in runnext: sleepers due together then run
 * in the order their timers fired (runnext would let each kick the one
 * before it back behind the queue). */
static void sleep_wake(void *arg) {
  sched_ready_next(arg, false);
}

/* Runs on g0 after the G is saved, so the timer cannot fire on a G that is
 * still running. */
static bool sleep_commit(struct g *gp, void *unused) {
  (void)unused;
  if (gp->sleeptimer.when == DEADLINE_NEVER) return true; /* no timer would ever fire */
  gp->sleeptimer.f = sleep_wake;
  gp->sleeptimer.arg = gp;
  timer_add(&gp->sleeptimer, gp->sleeptimer.when);
  return true;
}

void grt_sleep(int64_t ns) {
  RT_ENTER();
  struct g *gp = getcurg();
  if (!gp) {
    if (ns <= 0) return;
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
    return;
  }
  if (ns <= 0) {
    grt_yield();
    return;
  }
  /* A deadline past the clock's range (INT64_MAX: forever) never comes. */
  gp->sleeptimer.when = deadline_after(ns);
  sched_park(sleep_commit, NULL, "sleep");
  KEEP_FRAME();
}
