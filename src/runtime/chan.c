/*
 * chan.c - channels and select, after Go's chan.go and select.go.
 *
 * A channel is a lock, a ring buffer of cap elements, and two queues of
 * waiting goroutines (sudogs: "this G waits to send/receive this element").
 * Invariants, under c->lock:
 *   - at most one of recvq and sendq is non-empty;
 *   - recvq non-empty implies the buffer is empty; sendq non-empty implies
 *     it is full (or cap is 0).
 * A waker hands the element over directly (copying into or out of the
 * parked G's sudog), sets sg->success and gp->param, releases the lock and
 * then readies the G.  A sudog lives on its G's stack: the G stays parked
 * while the sudog is queued, and stacks never move.
 *
 * Select enqueues one sudog per case.  The first waker to CAS the G's
 * selectdone from 0 to 1 owns the wakeup; others skip that sudog.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELEM_SIZE 65536
#define MAX_SELECT_CASES 65536
/* The largest buffer a channel may have, in bytes: Go's maxAlloc on 64-bit
 * (2^48), beyond any address space a process gets. */
#define MAX_CHAN_BYTES ((size_t)1 << 48)

struct sudog {
  struct g *g;
  struct sudog *next, *prev;
  void *elem; /* send: value to send; recv: where to put it (may be NULL) */
  struct grt_chan *c;
  bool is_select;
  bool success; /* true: the operation happened; false: woken by close */
};

struct waitq {
  struct sudog *first, *last;
};

struct grt_chan {
  rt_lock lock;
  size_t elem_size;
  size_t cap;
  size_t count; /* buffered elements */
  size_t sendx, recvx;
  bool closed;
  _Atomic uint32_t refs; /* grt_chan_retain / grt_chan_release; 1 at make */
  struct waitq recvq, sendq;
  unsigned char *buf;
};

static void waitq_push(struct waitq *q, struct sudog *sg) {
  sg->next = NULL;
  sg->prev = q->last;
  if (q->last)
    q->last->next = sg;
  else
    q->first = sg;
  q->last = sg;
}

static void waitq_remove(struct waitq *q, struct sudog *sg) {
  if (sg->prev)
    sg->prev->next = sg->next;
  else if (q->first == sg)
    q->first = sg->next;
  else
    return; /* not queued */
  if (sg->next)
    sg->next->prev = sg->prev;
  else
    q->last = sg->prev;
  sg->next = sg->prev = NULL;
}

/* Pops the first sudog whose G can still be woken (a select's G can only
 * be woken once). */
static inline __attribute__((always_inline)) struct sudog *waitq_pop(struct waitq *q) {
  for (;;) {
    struct sudog *sg = q->first;
    if (!sg) return NULL;
    waitq_remove(q, sg);
    if (sg->is_select) {
      uint32_t zero = 0;
      if (!atomic_compare_exchange_strong(&sg->g->selectdone, &zero, 1)) continue;
    }
    return sg;
  }
}

static void *slot(struct grt_chan *c, size_t i) {
  return c->buf + i * c->elem_size;
}

static void copy_elem(struct grt_chan *c, void *dst, const void *src) {
  if (c->elem_size == 0 || !dst) return;
  if (src && c->elem_size == 8) /* a pointer or a long: inline, no call */
    memcpy(dst, src, 8);
  else if (src)
    memcpy(dst, src, c->elem_size);
  else
    memset(dst, 0, c->elem_size);
}

static bool misuse(const char *what) {
  warn_line("grt: %s", what);
  return true;
}

grt_chan *grt_chan_make(size_t elem_size, size_t cap) {
  if (elem_size > MAX_ELEM_SIZE) {
    warn_line("grt: grt_chan_make: element size %zu is over %d bytes", elem_size, MAX_ELEM_SIZE);
    errno = EINVAL;
    return NULL;
  }
  /* grt_chan_cap reports cap as a long; the buffer must fit in memory. */
  if (cap > LONG_MAX || (elem_size && cap > MAX_CHAN_BYTES / elem_size)) {
    warn_line("grt: grt_chan_make: cap %zu with elem_size %zu: the buffer cannot fit in memory",
              cap, elem_size);
    errno = EINVAL;
    return NULL;
  }
  grt_chan *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->elem_size = elem_size;
  atomic_init(&c->refs, 1);
  c->cap = cap;
  if (cap && elem_size) {
    c->buf = malloc(cap * elem_size);
    if (!c->buf) {
      free(c);
      errno = ENOMEM;
      return NULL;
    }
  }
  return c;
}

/* ---- the three operations, with c->lock held ----------------------------- */

/* A receiver is waiting: hand it ep and wake it.  Releases c->lock. */
static void send_direct(grt_chan *c, struct sudog *sg, const void *ep) {
  copy_elem(c, sg->elem, ep);
  sg->success = true;
  sg->g->param = sg;
  rt_lock_release(&c->lock);
  sched_ready(sg->g);
}

/* A sender is waiting: take its value (through the buffer if there is one,
 * keeping FIFO order) and wake it.  Releases c->lock. */
static void recv_direct(grt_chan *c, struct sudog *sg, void *ep) {
  if (c->cap == 0) {
    copy_elem(c, ep, sg->elem);
  } else { /* buffer full: take its head, put the sender's value at its tail */
    copy_elem(c, ep, slot(c, c->recvx));
    copy_elem(c, slot(c, c->recvx), sg->elem);
    c->recvx = (c->recvx + 1) % c->cap;
    c->sendx = c->recvx;
  }
  sg->success = true;
  sg->g->param = sg;
  rt_lock_release(&c->lock);
  sched_ready(sg->g);
}

static void buf_put(grt_chan *c, const void *ep) {
  copy_elem(c, slot(c, c->sendx), ep);
  c->sendx = (c->sendx + 1) % c->cap;
  c->count++;
}

static void buf_take(grt_chan *c, void *ep) {
  copy_elem(c, ep, slot(c, c->recvx));
  c->recvx = (c->recvx + 1) % c->cap;
  c->count--;
}

static struct g *chan_caller(const char *op) {
  struct g *gp = getcurg();
  if (!gp) warn_line("grt: %s called outside a goroutine (it can only park a goroutine)", op);
  return gp;
}

int grt_chan_send(grt_chan *c, const void *ep) {
  RT_ENTER();
  if (!c && misuse("grt_chan_send: NULL channel")) return -EINVAL;
  if (!ep && c->elem_size && misuse("grt_chan_send: NULL element")) return -EINVAL;
  struct g *gp = chan_caller("grt_chan_send");
  if (!gp) return -EPERM;
  rt_lock_acquire(&c->lock);
  if (c->closed) {
    rt_lock_release(&c->lock);
    misuse("grt_chan_send: the channel is closed"); /* Go panics */
    return -EPIPE;
  }
  struct sudog *sg = waitq_pop(&c->recvq);
  if (sg) {
    send_direct(c, sg, ep);
    return 0;
  }
  if (c->count < c->cap) {
    buf_put(c, ep);
    rt_lock_release(&c->lock);
    return 0;
  }
  struct sudog me = {.g = gp, .elem = (void *)ep, .c = c};
  gp->param = NULL;
  waitq_push(&c->sendq, &me);
  sched_park(sched_unlock_commit, &c->lock, "chan send");
  if (me.success) return 0;
  misuse("grt_chan_send: the channel was closed while the send waited"); /* Go panics */
  return -EPIPE;
}

int grt_chan_recv(grt_chan *c, void *ep) {
  RT_ENTER();
  if (!c && misuse("grt_chan_recv: NULL channel")) return -EINVAL;
  struct g *gp = chan_caller("grt_chan_recv");
  if (!gp) return -EPERM;
  rt_lock_acquire(&c->lock);
  if (c->closed && c->count == 0) {
    rt_lock_release(&c->lock);
    copy_elem(c, ep, NULL);
    return 0;
  }
  struct sudog *sg = waitq_pop(&c->sendq);
  if (sg) {
    recv_direct(c, sg, ep);
    return 1;
  }
  if (c->count > 0) {
    buf_take(c, ep);
    rt_lock_release(&c->lock);
    return 1;
  }
  struct sudog me = {.g = gp, .elem = ep, .c = c};
  gp->param = NULL;
  waitq_push(&c->recvq, &me);
  sched_park(sched_unlock_commit, &c->lock, "chan receive");
  return me.success ? 1 : 0;
}

/* Closes c: 0, or -EPIPE (and no line) if it was closed already.  The
 * runtime's own closer (a context's done channel, from g0 too); no RT_ENTER,
 * which is for a goroutine's calls. */
int chan_close_quiet(grt_chan *c) {
  rt_lock_acquire(&c->lock);
  if (c->closed) {
    rt_lock_release(&c->lock);
    return -EPIPE;
  }
  c->closed = true;
  /* Collect every waiter, then wake them without the lock. */
  struct g *wake = NULL;
  struct sudog *sg;
  while ((sg = waitq_pop(&c->recvq))) {
    copy_elem(c, sg->elem, NULL);
    sg->success = false;
    sg->g->param = sg;
    sg->g->schedlink = wake;
    wake = sg->g;
  }
  while ((sg = waitq_pop(&c->sendq))) {
    sg->success = false;
    sg->g->param = sg;
    sg->g->schedlink = wake;
    wake = sg->g;
  }
  rt_lock_release(&c->lock);
  while (wake) {
    struct g *next = wake->schedlink;
    sched_ready(wake);
    wake = next;
  }
  return 0;
}

int grt_chan_close(grt_chan *c) {
  RT_ENTER();
  if (!c && misuse("grt_chan_close: NULL channel")) return -EINVAL;
  int r = chan_close_quiet(c);
  if (r) misuse("grt_chan_close: the channel is closed already"); /* Go panics */
  return r;
}

long grt_chan_len(grt_chan *c) {
  if (!c && misuse("grt_chan_len: NULL channel")) return -EINVAL;
  rt_lock_acquire(&c->lock);
  long n = (long)c->count;
  rt_lock_release(&c->lock);
  return n;
}

long grt_chan_cap(grt_chan *c) {
  if (!c && misuse("grt_chan_cap: NULL channel")) return -EINVAL;
  return (long)c->cap;
}

size_t chan_elem_size(const grt_chan *c) {
  return c->elem_size;
}

/* A send that never blocks, for the runtime's own senders (timers run on
 * g0): 1 sent (to a waiting receiver, or into the buffer), 0 no room, or
 * closed.  Any thread. */
int chan_try_send(grt_chan *c, const void *ep) {
  rt_lock_acquire(&c->lock);
  if (c->closed) {
    rt_lock_release(&c->lock);
    return 0;
  }
  struct sudog *sg = waitq_pop(&c->recvq);
  if (sg) {
    send_direct(c, sg, ep);
    return 1;
  }
  int sent = c->count < c->cap;
  if (sent) buf_put(c, ep);
  rt_lock_release(&c->lock);
  return sent;
}

grt_chan *grt_chan_retain(grt_chan *c) {
  if (!c) {
    misuse("grt_chan_retain: NULL channel");
    errno = EINVAL;
    return NULL;
  }
  uint32_t r = atomic_load_explicit(&c->refs, memory_order_relaxed);
  do {
    if (r == 0 || r == UINT32_MAX) {
      /* 0: released (and freed, unless goroutines were still blocked on it;
       * after a free this read is itself the misuse, which ASan reports). */
      misuse(r ? "grt_chan_retain: too many references"
               : "grt_chan_retain: the channel was released");
      errno = EINVAL;
      return NULL;
    }
  } while (!atomic_compare_exchange_weak(&c->refs, &r, r + 1));
  return c;
}

void grt_chan_release(grt_chan *c) {
  if (!c) return;
  uint32_t r = atomic_load_explicit(&c->refs, memory_order_relaxed);
  do {
    if (r == 0) {
      misuse("grt_chan_release: the channel was released already");
      return;
    }
  } while (!atomic_compare_exchange_weak(&c->refs, &r, r - 1));
  if (r > 1) return; /* others still hold it */
  rt_lock_acquire(&c->lock);
  bool busy = c->recvq.first || c->sendq.first;
  rt_lock_release(&c->lock);
  if (busy) {
    warn_line("grt: grt_chan_release: goroutines are still blocked on channel %p; not freed",
              (void *)c);
    return;
  }
  free(c->buf);
  free(c);
}

void grt_chan_free(grt_chan *c) {
  grt_chan_release(c);
}

/* ---- select --------------------------------------------------------------- */

struct selstate {
  grt_select_case *cases;
  int *lockorder; /* case indices sorted by channel address */
  int nlock;
};

static void sel_lock(struct selstate *s) {
  grt_chan *prev = NULL;
  for (int i = 0; i < s->nlock; i++) {
    grt_chan *c = s->cases[s->lockorder[i]].chan;
    if (c != prev) rt_lock_acquire(&c->lock);
    prev = c;
  }
}

static void sel_unlock(struct selstate *s) {
  for (int i = s->nlock - 1; i >= 0; i--) {
    grt_chan *c = s->cases[s->lockorder[i]].chan;
    if (i > 0 && s->cases[s->lockorder[i - 1]].chan == c) continue;
    rt_lock_release(&c->lock);
  }
}

static bool sel_commit(struct g *gp, void *arg) {
  (void)gp;
  sel_unlock(arg);
  return true;
}

/* Tries case i with its channel locked.  Returns true if it completed; the
 * channel locks are all released in that case. */
static bool sel_try(struct selstate *s, int i) {
  grt_select_case *cs = &s->cases[i];
  grt_chan *c = cs->chan;
  struct sudog *sg;
  if (cs->dir == GRT_RECV) {
    if ((sg = waitq_pop(&c->sendq))) {
      cs->ok = 1;
    } else if (c->count > 0) {
      buf_take(c, cs->elem);
      cs->ok = 1;
      sel_unlock(s);
      return true;
    } else if (c->closed) {
      copy_elem(c, cs->elem, NULL);
      cs->ok = 0;
      sel_unlock(s);
      return true;
    } else {
      return false;
    }
  } else {
    if (c->closed) {
      cs->ok = 0;
      sel_unlock(s);
      return true;
    }
    if (!(sg = waitq_pop(&c->recvq))) {
      if (c->count < c->cap) {
        buf_put(c, cs->elem);
        cs->ok = 1;
        sel_unlock(s);
        return true;
      }
      return false;
    }
    cs->ok = 1;
  }
  /* A direct handoff with sg: finish it holding only c's lock. */
  for (int k = s->nlock - 1; k >= 0; k--) {
    grt_chan *lc = s->cases[s->lockorder[k]].chan;
    if (k > 0 && s->cases[s->lockorder[k - 1]].chan == lc) continue;
    if (lc != c) rt_lock_release(&lc->lock);
  }
  if (cs->dir == GRT_RECV)
    recv_direct(c, sg, cs->elem);
  else
    send_direct(c, sg, cs->elem);
  return true;
}

static uintptr_t case_chan(const grt_select_case *cases, int i) {
  return (uintptr_t)cases[i].chan;
}

/* lockorder = pollorder's n cases sorted by channel address: Go's heap
 * sort (selectgo), n log n in time with no memory of its own, where an
 * insertion sort took seconds for 65,536 cases. */
static void sort_lockorder(const grt_select_case *cases, const int *pollorder, int *lockorder,
                           int n) {
  for (int i = 0; i < n; i++) { /* build a max-heap, in pollorder */
    int j = i;
    uintptr_t c = case_chan(cases, pollorder[i]);
    while (j > 0 && case_chan(cases, lockorder[(j - 1) / 2]) < c) {
      lockorder[j] = lockorder[(j - 1) / 2];
      j = (j - 1) / 2;
    }
    lockorder[j] = pollorder[i];
  }
  for (int i = n - 1; i >= 0; i--) { /* move the max to the end, sift down */
    int o = lockorder[i];
    uintptr_t c = case_chan(cases, o);
    lockorder[i] = lockorder[0];
    int j = 0;
    for (;;) {
      int k = 2 * j + 1;
      if (k >= i) break;
      if (k + 1 < i && case_chan(cases, lockorder[k]) < case_chan(cases, lockorder[k + 1])) k++;
      if (c >= case_chan(cases, lockorder[k])) break;
      lockorder[j] = lockorder[k];
      j = k;
    }
    lockorder[j] = o;
  }
}

static bool never_commit(struct g *gp, void *arg) {
  (void)gp;
  (void)arg;
  return true;
}

int grt_select(grt_select_case *cases, int n, int block) {
  RT_ENTER();
  if (n < 0 || n > MAX_SELECT_CASES || (n > 0 && !cases)) {
    misuse("grt_select: bad case array");
    return -EINVAL;
  }
  for (int i = 0; i < n; i++)
    if (cases[i].dir != GRT_RECV && cases[i].dir != GRT_SEND) {
      misuse("grt_select: a case's dir is neither GRT_RECV nor GRT_SEND");
      return -EINVAL;
    } else if (cases[i].dir == GRT_SEND && cases[i].chan && cases[i].chan->elem_size &&
               !cases[i].elem) {
      misuse("grt_select: a send case has a NULL elem");
      return -EINVAL;
    }
  struct g *gp = chan_caller("grt_select");
  if (!gp) return -EPERM;

  int small[2 * 16];
  int *order = n <= 16 ? small : malloc(2 * (size_t)n * sizeof(int));
  if (!order) return -ENOMEM;
  int *pollorder = order, *lockorder = order + n;
  int npoll = 0;
  for (int i = 0; i < n; i++) { /* uniform shuffle of the non-nil cases */
    if (!cases[i].chan) continue;
    int j = (int)(rt_fastrand() % (uint32_t)(npoll + 1));
    pollorder[npoll] = pollorder[j];
    pollorder[j] = i;
    npoll++;
  }
  sort_lockorder(cases, pollorder, lockorder, npoll);
  struct selstate s = {cases, lockorder, npoll};
  int result = -EAGAIN; /* none ready, and not blocking: an error no other result shares */

  if (npoll == 0) {
    if (block) sched_park(never_commit, NULL, "select (no cases)");
    goto out;
  }
  sel_lock(&s);
  for (int k = 0; k < npoll; k++)
    if (sel_try(&s, pollorder[k])) {
      result = pollorder[k];
      goto out;
    }
  if (!block) {
    sel_unlock(&s);
    goto out;
  }

  /* Nothing ready: wait on every channel at once. */
  struct sudog smallsg[16];
  struct sudog *sgs = n <= 16 ? smallsg : calloc((size_t)n, sizeof *sgs);
  if (!sgs) {
    sel_unlock(&s);
    result = -ENOMEM;
    goto out;
  }
  gp->param = NULL;
  atomic_store(&gp->selectdone, 0);
  for (int k = 0; k < npoll; k++) {
    int i = lockorder[k];
    sgs[i] = (struct sudog){.g = gp, .elem = cases[i].elem, .c = cases[i].chan, .is_select = true};
    waitq_push(cases[i].dir == GRT_RECV ? &cases[i].chan->recvq : &cases[i].chan->sendq, &sgs[i]);
  }
  sched_park(sel_commit, &s, "select");
  sel_lock(&s);
  struct sudog *won = gp->param;
  for (int k = 0; k < npoll; k++) {
    int i = lockorder[k];
    if (&sgs[i] == won) {
      result = i;
      continue;
    }
    waitq_remove(cases[i].dir == GRT_RECV ? &cases[i].chan->recvq : &cases[i].chan->sendq, &sgs[i]);
  }
  sel_unlock(&s);
  if (result < 0) warn_fatal("select woke without a completed case");
  cases[result].ok = won->success ? 1 : 0;
  if (sgs != smallsg) free(sgs);
out:
  if (order != small) free(order);
  return result;
}
