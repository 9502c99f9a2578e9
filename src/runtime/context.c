/*
 * context.c - cancellation contexts (Go's context package, without values):
 * a tree of contexts, each with a done channel that is closed when it is
 * cancelled, when its deadline passes, or when an ancestor is; and the
 * hooks (ctx_watch, ctx_unwatch) through which every blocking call of the
 * runtime waits on a context as well as on its fd, lock or semaphore.
 *
 * Invariants, all under ctx_lock (one lock for every context):
 *  - A context is live (err 0) or done (err -ECANCELED or -ETIMEDOUT, set
 *    once, never cleared).  Only a live context is linked into the tree:
 *    in its parent's child list, with its own children in its list.  Going
 *    done unlinks it, and its live descendants go done with the same error
 *    in the same critical section, so every descendant of a live context
 *    is live.
 *  - users counts the creator's reference and each grt_ctx_retain; refs
 *    counts those, the deadline timer's while it is pending (or in transit
 *    to fire()), and finish()'s while it closes the done channel.  When
 *    users reaches 0 on a live context, it is cancelled, so a context
 *    nobody holds is never in the tree; the last of refs frees it.
 *    A parent holds no reference to its children, nor they to it: the
 *    links exist only while both are live.
 *  - Waiters (struct ctx_wait, on the waiting goroutine's stack) are on
 *    their context's list while it is live.  Cancelling moves them off
 *    (state FIRING) and, with ctx_lock released, calls each one's wake(),
 *    then sets its done flag: ctx_unwatch waits for that flag before the
 *    waiter's frame may go away.  wake() takes the lock of what the
 *    goroutine waits on (a poll descriptor, a mutex's waitlock); ctx_watch
 *    runs under that same lock, so the order is always that lock, then
 *    ctx_lock, and wake() never runs with ctx_lock held.
 *  - Done channels are closed, and waiters woken, outside ctx_lock, with a
 *    reference held on each context being finished.
 *
 * One lock for the whole tree: creating, cancelling and freeing contexts
 * are rare next to the waits, and a single lock makes the tree walk, the
 * unlinking of a dying child and the waiter lists consistent without a
 * lock order between contexts or references taken during the walk.
 * grt_ctx_err is a lock-free load.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

enum { W_IDLE, W_QUEUED, W_FIRING };

struct grt_ctx {
  int refs;         /* under ctx_lock: users, the timer's, finish()'s */
  int users;        /* under ctx_lock: the creator's and each grt_ctx_retain */
  _Atomic int err;  /* 0 live; -ECANCELED or -ETIMEDOUT once done */
  bool background;  /* the static root: never done, never freed */
  int64_t deadline; /* the earliest of its own and its ancestors', DEADLINE_NEVER: none */
  grt_chan *done;   /* closed once done; the context holds one reference */
  struct grt_ctx *parent, *child, *next, *prev; /* the tree, while live */
  struct ctx_wait *waiters;                     /* while live */
  struct timer t;
  bool timer_pending;       /* the timer holds a reference */
  struct grt_ctx *fin_next; /* cancel_locked's list of contexts to finish */
};

static rt_lock ctx_lock;
static struct grt_ctx background = {.background = true, .deadline = DEADLINE_NEVER};

/* ---- cancelling ------------------------------------------------------------ */

/* The contexts and waiters a cancellation must still finish outside
 * ctx_lock. */
struct finish {
  struct grt_ctx *ctxs; /* each with a reference taken */
  struct ctx_wait *waiters;
};

static void unlink_child(struct grt_ctx *c) {
  struct grt_ctx *p = c->parent;
  if (!p) return;
  if (c->prev)
    c->prev->next = c->next;
  else
    p->child = c->next;
  if (c->next) c->next->prev = c->prev;
  c->parent = c->next = c->prev = NULL;
}

/* Under ctx_lock: c (live) and all its descendants go done with err.  A
 * breadth-first walk over fin_next, so a deep tree takes no stack. */
static void cancel_locked(struct grt_ctx *c, int err, struct finish *f) {
  unlink_child(c);
  c->fin_next = NULL;
  struct grt_ctx *tail = c;
  for (struct grt_ctx *x = c; x; x = x->fin_next) {
    x->refs++; /* finish()'s, dropped once its channel is closed */
    atomic_store_explicit(&x->err, err, memory_order_release);
    if (x->timer_pending && timer_del(&x->t)) { /* else fire() is in transit: it drops it */
      x->timer_pending = false;
      x->refs--; /* the timer's; finish() still holds one */
    }
    while (x->waiters) {
      struct ctx_wait *w = x->waiters;
      x->waiters = w->next;
      w->state = W_FIRING;
      w->next = f->waiters;
      f->waiters = w;
    }
    for (struct grt_ctx *ch = x->child; ch;) {
      struct grt_ctx *nx = ch->next;
      ch->parent = ch->next = ch->prev = NULL;
      ch->fin_next = NULL;
      tail->fin_next = ch;
      tail = ch;
      ch = nx;
    }
    x->child = NULL;
  }
  /* Prepend the walked list to f->ctxs. */
  tail->fin_next = f->ctxs;
  f->ctxs = c;
}

static void destroy(struct grt_ctx *c) {
  grt_chan_release(c->done); /* closed: nobody waits on it; a retained one lives on */
  free(c);
}

/* Drops one reference (the timer's or finish()'s); the last frees c, which
 * is done by then: a live context loses its users' last reference only in
 * grt_ctx_release, which cancels it first. */
static void unref(struct grt_ctx *c) {
  rt_lock_acquire(&ctx_lock);
  bool last = --c->refs == 0;
  rt_lock_release(&ctx_lock);
  if (last) destroy(c);
}

/* Outside ctx_lock: closes the done channels and wakes the waiters. */
static void finish(struct finish *f) {
  for (struct ctx_wait *w = f->waiters; w;) {
    struct ctx_wait *next = w->next; /* read before done: w may go away after */
    w->wake(w, atomic_load(&w->ctx->err));
    atomic_store_explicit(&w->done, true, memory_order_release);
    w = next;
  }
  for (struct grt_ctx *x = f->ctxs; x;) {
    struct grt_ctx *next = x->fin_next;
    chan_close_quiet(x->done);
    unref(x);
    x = next;
  }
}

/* The deadline timer, on g0 with a P.  It owns the timer's reference. */
static void fire(void *arg) {
  struct grt_ctx *c = arg;
  struct finish f = {NULL, NULL};
  rt_lock_acquire(&ctx_lock);
  c->timer_pending = false;
  if (!atomic_load(&c->err)) cancel_locked(c, -ETIMEDOUT, &f);
  rt_lock_release(&ctx_lock);
  finish(&f);
  unref(c);
}

/* ---- the API --------------------------------------------------------------- */

static bool null_ctx(const grt_ctx *c, const char *call) {
  if (c) return false;
  warn_line("grt: %s: the context is NULL", call);
  return true;
}

static pthread_once_t background_once = PTHREAD_ONCE_INIT;

static void background_init(void) {
  background.done = grt_chan_make(0, 0); /* never closed: a receive on it never ends */
}

grt_ctx *grt_ctx_background(void) {
  pthread_once(&background_once, background_init);
  if (!background.done) {
    errno = ENOMEM;
    return NULL;
  }
  return &background;
}

/* A new context under parent (live or done), with deadline (DEADLINE_NEVER:
 * none of its own).  Returns it with the creator's reference. */
static grt_ctx *make(grt_ctx *parent, int64_t deadline, const char *call) {
  RT_ENTER();
  if (null_ctx(parent, call)) {
    errno = EINVAL;
    return NULL;
  }
  bool own_timer = deadline < parent->deadline; /* else the parent's deadline comes first */
  if (own_timer && !getcurg()) {
    /* The timer goes on the caller's P's heap, as grt_timer_make's does. */
    warn_line("grt: %s called outside a goroutine (deadline timers live on a P's heap)", call);
    errno = EPERM;
    return NULL;
  }
  struct grt_ctx *c = calloc(1, sizeof *c);
  grt_chan *done = grt_chan_make(0, 0);
  if (!c || !done) {
    free(c);
    grt_chan_release(done);
    errno = ENOMEM;
    return NULL;
  }
  c->refs = c->users = 1;
  c->done = done;
  c->t.idx = -1;
  c->deadline = own_timer ? deadline : parent->deadline;
  struct finish f = {NULL, NULL};
  rt_lock_acquire(&ctx_lock);
  int perr = atomic_load(&parent->err);
  if (perr) {
    atomic_store(&c->err, perr); /* as Go: born done, never linked */
    c->refs++;
    c->fin_next = NULL;
    f.ctxs = c;
  } else {
    if (!parent->background) {
      c->parent = parent;
      c->next = parent->child;
      if (c->next) c->next->prev = c;
      parent->child = c;
    }
    if (own_timer && deadline <= nanotime()) {
      cancel_locked(c, -ETIMEDOUT, &f);
    } else if (own_timer) {
      c->refs++; /* the timer's */
      c->timer_pending = true;
      c->t.f = fire;
      c->t.arg = c;
      timer_add(&c->t, deadline);
    }
  }
  rt_lock_release(&ctx_lock);
  finish(&f); /* a context born done has its channel closed before it is seen */
  return c;
}

grt_ctx *grt_ctx_with_cancel(grt_ctx *parent) {
  return make(parent, DEADLINE_NEVER, "grt_ctx_with_cancel");
}

grt_ctx *grt_ctx_with_deadline(grt_ctx *parent, int64_t deadline_ns) {
  return make(parent, deadline_ns, "grt_ctx_with_deadline");
}

grt_ctx *grt_ctx_with_timeout(grt_ctx *parent, int64_t timeout_ns) {
  return make(parent, deadline_after(timeout_ns < 0 ? 0 : timeout_ns), "grt_ctx_with_timeout");
}

int grt_ctx_cancel(grt_ctx *c) {
  RT_ENTER();
  if (null_ctx(c, "grt_ctx_cancel")) return -EINVAL;
  if (c->background) {
    warn_line("grt: grt_ctx_cancel: the background context cannot be cancelled");
    return -EINVAL;
  }
  struct finish f = {NULL, NULL};
  rt_lock_acquire(&ctx_lock);
  bool now = !atomic_load(&c->err);
  if (now) cancel_locked(c, -ECANCELED, &f);
  rt_lock_release(&ctx_lock);
  finish(&f);
  return now;
}

grt_chan *grt_ctx_done(grt_ctx *c) {
  if (null_ctx(c, "grt_ctx_done")) {
    errno = EINVAL;
    return NULL;
  }
  return c->done;
}

int grt_ctx_err(grt_ctx *c) {
  if (null_ctx(c, "grt_ctx_err")) return -EINVAL;
  return atomic_load_explicit(&c->err, memory_order_acquire);
}

int grt_ctx_deadline(grt_ctx *c, int64_t *deadline_ns) {
  if (null_ctx(c, "grt_ctx_deadline")) return -EINVAL;
  if (c->deadline == DEADLINE_NEVER) return 0;
  if (deadline_ns) *deadline_ns = c->deadline;
  return 1;
}

grt_ctx *grt_ctx_retain(grt_ctx *c) {
  if (null_ctx(c, "grt_ctx_retain")) {
    errno = EINVAL;
    return NULL;
  }
  if (c->background) return c;
  rt_lock_acquire(&ctx_lock);
  c->refs++;
  c->users++;
  rt_lock_release(&ctx_lock);
  return c;
}

void grt_ctx_release(grt_ctx *c) {
  RT_ENTER();
  if (!c || c->background) return;
  struct finish f = {NULL, NULL};
  rt_lock_acquire(&ctx_lock);
  if (c->users <= 0) {
    rt_lock_release(&ctx_lock);
    warn_line("grt: grt_ctx_release: the context was released already");
    return;
  }
  /* Nobody holds it any more: cancel it, so it leaves the tree (and its
   * children go done, as they would when their parent is garbage in Go's
   * terms) and its timer stops holding it. */
  if (--c->users == 0 && !atomic_load(&c->err)) cancel_locked(c, -ECANCELED, &f);
  bool last = --c->refs == 0;
  rt_lock_release(&ctx_lock);
  finish(&f); /* drops cancel_locked's reference: the last one, if ours was */
  if (last) destroy(c);
}

void grt_ctx_free(grt_ctx *c) {
  if (!c || c->background) return;
  grt_ctx_cancel(c);
  grt_ctx_release(c);
}

/* A sleep that a context ends: a timer (a heap slot) and the done channel
 * in one select, so the goroutine parks on both and no goroutine is made. */
int grt_sleep_ctx(int64_t ns, grt_ctx *c) {
  RT_ENTER();
  int err = ctx_arg(c, "grt_sleep_ctx");
  if (err) return err;
  if (!getcurg()) { /* a plain thread: sleep in slices, looking at the context */
    int64_t end = deadline_after(ns < 0 ? 0 : ns);
    for (;;) {
      int64_t left = end - nanotime();
      if (left <= 0) return 0;
      grt_sleep(left < 10000000 ? left : 10000000);
      if ((err = grt_ctx_err(c))) return err;
    }
  }
  if (ns <= 0) {
    grt_yield();
    return 0;
  }
  grt_timer *t = grt_timer_make(ns);
  if (!t) return -errno;
  grt_select_case cs[2] = {{.chan = grt_timer_chan(t), .dir = GRT_RECV},
                           {.chan = c->done, .dir = GRT_RECV}};
  int r = grt_select(cs, 2, 1);
  grt_timer_free(t);
  return r == 0 ? 0 : grt_ctx_err(c);
}

/* ---- waiting on a context (for the blocking calls) ------------------------- */

int ctx_arg(grt_ctx *c, const char *call) {
  if (null_ctx(c, call)) return -EINVAL;
  return atomic_load_explicit(&c->err, memory_order_acquire);
}

int64_t ctx_deadline(grt_ctx *c) {
  return c->deadline;
}

int ctx_watch(grt_ctx *c, struct ctx_wait *w, void (*wake)(struct ctx_wait *w, int err)) {
  w->ctx = NULL;
  w->state = W_IDLE;
  atomic_init(&w->done, false);
  if (c->background) return 0; /* never done: nothing to watch */
  rt_lock_acquire(&ctx_lock);
  int err = atomic_load(&c->err);
  if (!err) {
    w->ctx = c;
    w->wake = wake;
    w->state = W_QUEUED;
    w->prev = NULL;
    w->next = c->waiters;
    if (w->next) w->next->prev = w;
    c->waiters = w;
  }
  rt_lock_release(&ctx_lock);
  return err;
}

void ctx_unwatch(struct ctx_wait *w) {
  if (!w->ctx) return;
  rt_lock_acquire(&ctx_lock);
  bool queued = w->state == W_QUEUED;
  if (queued) {
    if (w->prev)
      w->prev->next = w->next;
    else
      w->ctx->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    w->state = W_IDLE;
  }
  rt_lock_release(&ctx_lock);
  if (queued) return;
  /* A cancellation took w off the list and may still be in w->wake: w is
   * on our stack, so wait until it is done with it. */
  for (int spins = 0; !atomic_load_explicit(&w->done, memory_order_acquire);)
    sync_backoff(&spins);
}
