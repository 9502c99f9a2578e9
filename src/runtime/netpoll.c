/*
 * netpoll.c - network I/O that parks goroutines, not threads (Go's
 * netpoller): one edge-triggered epoll instance for every fd the I/O calls
 * touch, polled by the scheduler (findrunnable polls without blocking; the
 * first M to go idle while goroutines wait blocks in epoll_wait until the
 * next timer), and the TCP calls of grt.h on top.
 *
 * Invariants:
 *  - Every fd number has one pollfd descriptor, allocated on first use and
 *    never freed (a two-level table, so lookups take no lock).  Its fields
 *    are guarded by its lock.
 *  - A waiter (on the waiting goroutine's stack) is linked from the
 *    descriptor only while it waits; whoever unlinks it (readiness, the
 *    deadline timer, grt_close) sets its result and readies its G, all
 *    under the descriptor's lock.  The waiter parks with sched_park, whose
 *    commit releases that lock after the G is saved, so no wakeup is lost.
 *  - Edge-triggered readiness that arrives with no waiter is latched
 *    (rready/wready) and consumed by the next wait.
 *  - Deadline timers live in the descriptor, not on a stack, since a timer
 *    callback may still be running after its waiter has gone; a late one
 *    only times out a wait whose own deadline has passed.
 *  - One reader and one writer may wait on an fd at a time (-EBUSY else).
 *  - A _ctx call's wait is also watched by its context (context.c): the
 *    context's wake unlinks it, under the descriptor's lock, only if it
 *    still waits there, and the waiter unwatches before its frame goes.
 */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PD_CHUNK 1024
#define PD_CHUNKS 1024 /* fds up to 2^20 */

struct pollfd_desc;
struct pwait {
  struct g *g;
  int result; /* 0 while waiting; then the ready mask, -ETIMEDOUT, -EBADF or the context's error */
  struct pollfd_desc *pd;
  struct ctx_wait cw; /* a _ctx call's: its context's cancellation wakes the wait */
};

/* How long a wait may last: until deadline (0: no deadline) and, for the
 * _ctx calls, until ctx is done (NULL: no context).  Every call below
 * takes one, so a timeout_ns call and its _ctx form share their code. */
struct limit {
  int64_t deadline;
  grt_ctx *ctx;
};

/* pwait masks: the directions a wait is for, and the ones that came. */
#define PW_READ 1  /* GRT_READABLE */
#define PW_WRITE 2 /* GRT_WRITABLE */
_Static_assert(PW_READ == GRT_READABLE && PW_WRITE == GRT_WRITABLE, "grt_wait_fd's mask");

struct pollfd_desc {
  rt_lock lock;
  int fd;
  bool registered; /* in the epoll set */
  bool closing;
  bool rready, wready; /* readiness that came with no waiter */
  struct pwait *rw, *ww;
  int64_t rdeadline, wdeadline; /* of the current waits, 0: none */
  struct timer rt, wt;
};

static struct pollfd_desc *_Atomic pd_chunks[PD_CHUNKS];
static int epfd = -1, breakfd = -1;
static pthread_once_t netpoll_once = PTHREAD_ONCE_INIT;
static _Atomic int32_t nwaiters;

static void netpoll_init(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  breakfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd < 0 || breakfd < 0) warn_fatal("grt: netpoll: cannot create epoll or eventfd");
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = breakfd};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev) != 0) warn_fatal("grt: netpoll: epoll_ctl");
}

static struct pollfd_desc *pd_get(int fd) {
  if (fd < 0 || fd >= PD_CHUNK * PD_CHUNKS) return NULL;
  struct pollfd_desc *chunk = atomic_load(&pd_chunks[fd / PD_CHUNK]);
  if (!chunk) {
    struct pollfd_desc *fresh = calloc(PD_CHUNK, sizeof *fresh);
    if (!fresh) return NULL;
    if (atomic_compare_exchange_strong(&pd_chunks[fd / PD_CHUNK], &chunk, fresh))
      chunk = fresh;
    else
      free(fresh); /* another thread won; chunk holds its table */
  }
  return &chunk[fd % PD_CHUNK];
}

/* What epoll cannot wait on (epoll_ctl gives EPERM), or NULL. */
static const char *unpollable(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  return NULL;
}

/* Registers fd (under pd->lock): non-blocking and in the epoll set.  On
 * failure the fd's flags are as they were: a file epoll cannot wait on is
 * refused before anything changes (*kind says what it is). */
static int pd_add(int fd, const char **kind) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if ((*kind = unpollable(st.st_mode))) return -EPERM;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST) {
    int err = -errno;
    if (!(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags);
    return err;
  }
  return 0;
}

/* The descriptor of fd, registered with epoll and non-blocking; NULL with
 * *err set (-EBADF for a bad fd; -EPERM, with one line naming call, for a
 * file epoll cannot wait on). */
static struct pollfd_desc *pd_register(int fd, int *err, const char *call) {
  pthread_once(&netpoll_once, netpoll_init);
  struct pollfd_desc *pd = pd_get(fd);
  if (!pd) {
    *err = fd < 0 ? -EBADF : -ENOMEM;
    return NULL;
  }
  rt_lock_acquire(&pd->lock);
  if (!pd->registered) {
    const char *kind = NULL;
    int r = pd_add(fd, &kind);
    if (r) {
      rt_lock_release(&pd->lock);
      if (kind)
        warn_line("grt: %s: fd %d is %s, which epoll cannot wait on; refused, the fd is "
                  "unchanged (use read(2)/write(2), through grt_extcall if they may block)",
                  call, fd, kind);
      *err = r;
      return NULL;
    }
    pd->fd = fd;
    pd->registered = true;
    pd->closing = false;
    pd->rready = pd->wready = false;
  }
  rt_lock_release(&pd->lock);
  return pd;
}

/* Under pd->lock: unlinks w from both slots (a grt_wait_fd for either
 * direction is linked from both). */
static void unlink_waiter(struct pollfd_desc *pd, struct pwait *w) {
  if (pd->rw == w) pd->rw = NULL;
  if (pd->ww == w) pd->ww = NULL;
}

/* Under pd->lock: unlinks *slot's waiter with result and readies it. */
static void wake_waiter(struct pollfd_desc *pd, struct pwait **slot, int result) {
  struct pwait *w = *slot;
  unlink_waiter(pd, w);
  w->result = result;
  sched_ready_next(w->g, false);
}

static void deadline_fired(struct pollfd_desc *pd, bool read) {
  rt_lock_acquire(&pd->lock);
  struct pwait **slot = read ? &pd->rw : &pd->ww;
  int64_t deadline = read ? pd->rdeadline : pd->wdeadline;
  if (*slot && deadline != 0 && nanotime() >= deadline) wake_waiter(pd, slot, -ETIMEDOUT);
  rt_lock_release(&pd->lock);
}
static void read_deadline(void *pd) {
  deadline_fired(pd, true);
}
static void write_deadline(void *pd) {
  deadline_fired(pd, false);
}

/* A context's cancellation: ends w's wait with err if it still waits. */
static void ctx_wake(struct ctx_wait *cw, int err) {
  struct pwait *w = CTX_WAITER(cw, struct pwait, cw);
  struct pollfd_desc *pd = w->pd;
  rt_lock_acquire(&pd->lock);
  if (pd->rw == w)
    wake_waiter(pd, &pd->rw, err);
  else if (pd->ww == w)
    wake_waiter(pd, &pd->ww, err);
  rt_lock_release(&pd->lock);
}

/* Parks the calling goroutine until fd is ready for one of the directions
 * in mask (PW_READ, PW_WRITE), the deadline (0: none) passes, lim.ctx is
 * done, or the fd is closed.  Returns the ready directions (> 0) or -errno.
 * A wait for both is linked from both slots and uses the read deadline's
 * timer. */
static int pd_wait_mask(struct pollfd_desc *pd, int mask, struct limit lim) {
  int64_t deadline = lim.deadline;
  struct g *gp = getcurg();
  rt_lock_acquire(&pd->lock);
  if (pd->closing) {
    rt_lock_release(&pd->lock);
    return -EBADF;
  }
  int latched = 0;
  if ((mask & PW_READ) && pd->rready) latched |= PW_READ;
  if ((mask & PW_WRITE) && pd->wready) latched |= PW_WRITE;
  if (latched) {
    if (latched & PW_READ) pd->rready = false;
    if (latched & PW_WRITE) pd->wready = false;
    rt_lock_release(&pd->lock);
    return latched;
  }
  if (deadline != 0 && nanotime() >= deadline) {
    rt_lock_release(&pd->lock);
    return -ETIMEDOUT;
  }
  if (((mask & PW_READ) && pd->rw) || ((mask & PW_WRITE) && pd->ww)) {
    rt_lock_release(&pd->lock);
    return -EBUSY;
  }
  struct pwait w = {.g = gp, .result = 0, .pd = pd};
  if (mask & PW_READ) pd->rw = &w;
  if (mask & PW_WRITE) pd->ww = &w;
  w.cw.ctx = NULL;
  if (lim.ctx) {
    int err = ctx_watch(lim.ctx, &w.cw, ctx_wake);
    if (err) {
      unlink_waiter(pd, &w);
      rt_lock_release(&pd->lock);
      return err;
    }
  }
  bool read = mask & PW_READ; /* whose deadline and timer the wait uses */
  struct timer *t = read ? &pd->rt : &pd->wt;
  if (read)
    pd->rdeadline = deadline;
  else
    pd->wdeadline = deadline;
  if (deadline != 0) {
    timer_del(t); /* a previous wait's, if it never fired */
    t->f = read ? read_deadline : write_deadline;
    t->arg = pd;
    timer_add(t, deadline); /* its callback waits for pd->lock: after we park */
  }
  atomic_fetch_add(&nwaiters, 1);
  sched_park(sched_unlock_commit, &pd->lock, "IO wait");
  atomic_fetch_sub(&nwaiters, 1);
  if (deadline != 0) timer_del(t);
  ctx_unwatch(&w.cw);
  return w.result;
}

/* pd_wait_mask for one direction: 0 once ready, or -errno. */
static int pd_wait(struct pollfd_desc *pd, bool read, struct limit lim) {
  int r = pd_wait_mask(pd, read ? PW_READ : PW_WRITE, lim);
  return r < 0 ? r : 0;
}

/* ---- the scheduler's side ------------------------------------------------ */

bool netpoll_waiting(void) {
  return atomic_load_explicit(&nwaiters, memory_order_relaxed) > 0;
}

void netpoll_break(void) {
  if (breakfd < 0) return;
  uint64_t one = 1;
  ssize_t r = write(breakfd, &one, sizeof one);
  (void)r; /* EAGAIN: a wakeup is pending already */
}

/* poll(2)'s and epoll_wait(2)'s timeout for ns >= 0: milliseconds, rounded
 * up, at most INT_MAX (24 days: the caller looks again then). */
static int timeout_ms(int64_t ns) {
  int64_t ms = ns / 1000000 + (ns % 1000000 != 0);
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Waits up to timeout_ns (-1: forever, 0: just looks) for readiness; the
 * goroutines it makes runnable come back linked through schedlink, still
 * G_WAITING (the caller readies them).  Returns how many. */
int netpoll(int64_t timeout_ns, struct g **list) {
  *list = NULL;
  if (epfd < 0) return 0;
  int ms = timeout_ns < 0 ? -1 : timeout_ms(timeout_ns);
  struct epoll_event evs[128];
  int n = epoll_wait(epfd, evs, 128, ms);
  int count = 0;
  for (int i = 0; i < n; i++) {
    int fd = evs[i].data.fd;
    if (fd == breakfd) {
      uint64_t v;
      ssize_t r = read(breakfd, &v, sizeof v);
      (void)r;
      continue;
    }
    struct pollfd_desc *pd = pd_get(fd);
    if (!pd) continue;
    uint32_t e = evs[i].events;
    rt_lock_acquire(&pd->lock);
    /* A waiter for both directions is linked from both slots: it is
     * collected once, with every direction that came. */
    struct pwait *woke[2] = {NULL, NULL};
    int got[2] = {0, 0};
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      if (pd->rw) {
        woke[0] = pd->rw;
        got[0] = PW_READ;
      } else {
        pd->rready = true;
      }
    }
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      if (pd->ww == woke[0] && woke[0]) {
        got[0] |= PW_WRITE;
      } else if (pd->ww) {
        woke[1] = pd->ww;
        got[1] = PW_WRITE;
      } else {
        pd->wready = true;
      }
    }
    for (int k = 0; k < 2; k++) {
      if (!woke[k]) continue;
      unlink_waiter(pd, woke[k]);
      woke[k]->result = got[k];
      woke[k]->g->schedlink = *list;
      *list = woke[k]->g;
      count++;
    }
    rt_lock_release(&pd->lock);
  }
  return count;
}

/* ---- the API -------------------------------------------------------------- */

/* A relative timeout as the limit the waits take: no deadline (0) for a
 * negative one or one so large that the deadline would not fit (forever);
 * for 0, now (the wait only looks). */
static struct limit timeout_limit(int64_t timeout_ns) {
  struct limit lim = {0, NULL};
  if (timeout_ns >= 0) {
    int64_t d = deadline_after(timeout_ns);
    lim.deadline = d == DEADLINE_NEVER ? 0 : d;
  }
  return lim;
}

static struct limit ctx_limit(grt_ctx *ctx) {
  return (struct limit){0, ctx};
}

/* Outside a goroutine, poll(2) waits at most this long at a time when a
 * context may end the wait: no wake-up reaches a thread in poll(2), so it
 * looks at the context between slices. */
#define CTX_POLL_SLICE_MS 10

/* The poll(2) timeout for the rest of a wait limited by lim: -1 forever,
 * else ms; the limit's error (-ETIMEDOUT, the context's) once it is over. */
static int limit_poll_ms(struct limit lim, int *ms) {
  *ms = -1;
  if (lim.ctx) {
    int err = grt_ctx_err(lim.ctx);
    if (err) return err;
    *ms = CTX_POLL_SLICE_MS;
  }
  if (lim.deadline) {
    int64_t left = lim.deadline - nanotime();
    if (left <= 0) return -ETIMEDOUT;
    if (*ms < 0 || timeout_ms(left) < *ms) *ms = timeout_ms(left);
  }
  return 0;
}

/* Outside a goroutine: block the thread in poll(2). */
static int thread_wait(int fd, bool read, struct limit lim) {
  struct pollfd p = {.fd = fd, .events = read ? POLLIN : POLLOUT};
  for (;;) {
    int ms, err = limit_poll_ms(lim, &ms);
    if (err) return err;
    int r = poll(&p, 1, ms);
    if (r > 0) return 0;
    if (r == 0) continue; /* recheck the limit */
    if (errno != EINTR) return -errno;
  }
}

static int io_wait(int fd, struct pollfd_desc *pd, bool read, struct limit lim) {
  return getcurg() ? pd_wait(pd, read, lim) : thread_wait(fd, read, lim);
}

/* A _ctx call's context: -EINVAL (with its line) for NULL, and the
 * context's error if it is done already, so the call fails before any I/O. */
#define CTX_ARG(ctx, call)                                                                         \
  do {                                                                                             \
    int ctx_err_ = ctx_arg((ctx), (call));                                                         \
    if (ctx_err_) return ctx_err_;                                                                 \
  } while (0)

/* A NULL buffer for n > 0 bytes: one line naming the call. */
static bool null_buffer(const void *buf, size_t n, const char *call) {
  if (buf || n == 0) return false;
  warn_line("grt: %s: buf is NULL", call);
  return true;
}

static ssize_t do_read(int fd, void *buf, size_t n, struct limit lim, const char *call) {
  if (null_buffer(buf, n, call)) return -EINVAL;
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, call);
  if (!pd) return err;
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    int w = io_wait(fd, pd, true, lim);
    if (w) return w;
  }
}

ssize_t grt_read(int fd, void *buf, size_t n, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_read");
  RT_ENTER();
  return do_read(fd, buf, n, timeout_limit(timeout_ns), "grt_read");
}

ssize_t grt_read_ctx(int fd, void *buf, size_t n, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_read_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_read_ctx");
  return do_read(fd, buf, n, ctx_limit(ctx), "grt_read_ctx");
}

static ssize_t do_write(int fd, const void *buf, size_t n, struct limit lim, const char *call) {
  if (null_buffer(buf, n, call)) return -EINVAL;
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, call);
  if (!pd) return err;
  size_t done = 0;
  while (done < n) {
    ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
    if (r < 0 && errno == ENOTSOCK) r = write(fd, (const char *)buf + done, n - done);
    if (r >= 0) {
      done += (size_t)r;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return done ? (ssize_t)done : -errno;
    int w = io_wait(fd, pd, false, lim);
    if (w) return done ? (ssize_t)done : w;
  }
  return (ssize_t)done;
}

ssize_t grt_write(int fd, const void *buf, size_t n, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_write");
  RT_ENTER();
  return do_write(fd, buf, n, timeout_limit(timeout_ns), "grt_write");
}

ssize_t grt_write_ctx(int fd, const void *buf, size_t n, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_write_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_write_ctx");
  return do_write(fd, buf, n, ctx_limit(ctx), "grt_write_ctx");
}

int grt_close(int fd) {
  if (sched_forked()) return sched_forked_refuse("grt_close");
  RT_ENTER();
  struct pollfd_desc *pd = pd_get(fd);
  if (pd) {
    rt_lock_acquire(&pd->lock);
    if (pd->registered) {
      pd->closing = true;
      if (pd->rw) wake_waiter(pd, &pd->rw, -EBADF);
      if (pd->ww) wake_waiter(pd, &pd->ww, -EBADF);
      epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
      pd->registered = false;
      pd->rready = pd->wready = false;
    }
    rt_lock_release(&pd->lock);
  }
  return close(fd) == 0 ? 0 : -errno;
}

/* ---- waiting on any fd ------------------------------------------------------ */

/* poll(2)'s revents as a PW_ mask of the directions in mask; hangups and
 * errors count as both, as the netpoller counts them. */
static int poll_mask(short revents, int mask) {
  int got = 0;
  if (revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) got |= PW_READ;
  if (revents & (POLLOUT | POLLHUP | POLLERR)) got |= PW_WRITE;
  return got & mask;
}

/* Looks (timeout_ms 0) or waits with poll(2): the ready mask, 0 if none. */
static int poll_once(int fd, int mask, int ms) {
  struct pollfd p = {.fd = fd,
                     .events = (short)(((mask & PW_READ) ? POLLIN | POLLRDHUP : 0) |
                                       ((mask & PW_WRITE) ? POLLOUT : 0))};
  int r = poll(&p, 1, ms);
  if (r < 0) return errno == EINTR ? 0 : -errno;
  if (r == 0) return 0;
  if (p.revents & POLLNVAL) return -EBADF;
  return poll_mask(p.revents, mask);
}

static bool bad_events(int events, const char *call) {
  if (events > 0 && !(events & ~(GRT_READABLE | GRT_WRITABLE))) return false;
  warn_line("grt: %s: events %#x is not GRT_READABLE, GRT_WRITABLE or both", call, events);
  return true;
}

static int do_wait_fd(int fd, int events, struct limit lim, const char *call) {
  if (!getcurg()) { /* outside a goroutine: poll(2), the fd unchanged */
    for (;;) {
      int ms, err = limit_poll_ms(lim, &ms);
      if (err && lim.ctx) return err; /* a done context: at once */
      if (err) ms = 0;                /* a deadline that passed: one last look */
      int r = poll_once(fd, events, ms);
      if (r != 0) return r;
      if (err) return err;
    }
  }
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, call);
  if (!pd) return err;
  /* The latches are edges that came with no waiter and may be stale (the
   * caller read or wrote since with plain calls): poll(2) says what holds
   * now, and a wakeup it does not confirm is waited out again.  Each round
   * either consumes a latch or parks, so this ends. */
  for (;;) {
    int now = poll_once(fd, events, 0);
    if (now != 0) return now;
    int r = pd_wait_mask(pd, events, lim);
    if (r < 0) return r;
  }
}

int grt_wait_fd(int fd, int events, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_wait_fd");
  RT_ENTER();
  if (bad_events(events, "grt_wait_fd")) return -EINVAL;
  return do_wait_fd(fd, events, timeout_limit(timeout_ns), "grt_wait_fd");
}

int grt_wait_fd_ctx(int fd, int events, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_wait_fd_ctx");
  RT_ENTER();
  if (bad_events(events, "grt_wait_fd_ctx")) return -EINVAL;
  CTX_ARG(ctx, "grt_wait_fd_ctx");
  return do_wait_fd(fd, events, ctx_limit(ctx), "grt_wait_fd_ctx");
}

/* ---- sockets ---------------------------------------------------------------- */

/* Checks a socket call's address and type: 0, or -EINVAL (or
 * -EAFNOSUPPORT) with one line naming call. */
static int sock_check(const struct sockaddr *sa, socklen_t len, int type, const char *call) {
  if (!sa) {
    warn_line("grt: %s: sockaddr is NULL", call);
    return -EINVAL;
  }
  if (type != SOCK_STREAM && type != SOCK_DGRAM) {
    warn_line("grt: %s: type %d is neither SOCK_STREAM nor SOCK_DGRAM", call, type);
    return -EINVAL;
  }
  if (len < sizeof(sa_family_t) || len > sizeof(struct sockaddr_storage)) {
    warn_line("grt: %s: sockaddr length %u is out of range", call, (unsigned)len);
    return -EINVAL;
  }
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6 && sa->sa_family != AF_UNIX) {
    warn_line("grt: %s: address family %d is not AF_INET, AF_INET6 or AF_UNIX", call,
              sa->sa_family);
    return -EAFNOSUPPORT;
  }
  return 0;
}

static void tcp_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on unix: fine */
}

/* A bound socket (listening, for a stream one), registered: fd or -errno. */
static int sock_listen(const struct sockaddr *sa, socklen_t len, int type, int backlog,
                       const char *call) {
  int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (sa->sa_family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  int err = 0;
  if (bind(fd, sa, len) != 0 ||
      (type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : 128) != 0))
    err = -errno;
  else if (pd_register(fd, &err, call))
    return fd;
  close(fd);
  return err;
}

/* A connected socket, registered: fd or -errno.  Gives up at lim. */
static int sock_connect(const struct sockaddr *sa, socklen_t len, int type, struct limit lim,
                        const char *call) {
  int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, call);
  if (!pd) {
    close(fd);
    return err;
  }
  int r;
  do
    r = connect(fd, sa, len);
  while (r != 0 && errno == EINTR);
  if (r != 0 && errno == EINPROGRESS) {
    /* Writable, with no error, and a peer: connected.  A wakeup without
     * a peer is spurious (a readiness left over from an earlier socket
     * with the same fd number): wait again, as Go's connect does. */
    for (;;) {
      r = io_wait(fd, pd, false, lim);
      if (r != 0) break;
      int soerr = 0;
      socklen_t slen = sizeof soerr;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen);
      if (soerr) {
        r = -soerr;
        break;
      }
      struct sockaddr_storage peer;
      socklen_t plen = sizeof peer;
      if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0) break;
      if (errno != ENOTCONN) {
        r = -errno;
        break;
      }
    }
  } else if (r != 0) {
    r = -errno; /* a unix stream listener whose backlog is full: -EAGAIN */
  }
  if (r != 0) {
    grt_close(fd);
    return r;
  }
  if (type == SOCK_STREAM && sa->sa_family != AF_UNIX) tcp_nodelay(fd);
  return fd;
}

int grt_listen_addr(const struct sockaddr *sa, socklen_t len, int type, int backlog) {
  if (sched_forked()) return sched_forked_refuse("grt_listen_addr");
  RT_ENTER();
  int err = sock_check(sa, len, type, "grt_listen_addr");
  return err ? err : sock_listen(sa, len, type, backlog, "grt_listen_addr");
}

int grt_connect_addr(const struct sockaddr *sa, socklen_t len, int type, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_connect_addr");
  RT_ENTER();
  struct limit lim = timeout_limit(timeout_ns);
  int err = sock_check(sa, len, type, "grt_connect_addr");
  return err ? err : sock_connect(sa, len, type, lim, "grt_connect_addr");
}

int grt_connect_addr_ctx(const struct sockaddr *sa, socklen_t len, int type, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_connect_addr_ctx");
  RT_ENTER();
  int err = sock_check(sa, len, type, "grt_connect_addr_ctx");
  if (err) return err;
  CTX_ARG(ctx, "grt_connect_addr_ctx");
  return sock_connect(sa, len, type, ctx_limit(ctx), "grt_connect_addr_ctx");
}

static int accept_addr(int lfd, struct sockaddr *peer, socklen_t *len, struct limit lim,
                       const char *call) {
  if (peer && !len) {
    warn_line("grt: %s: peer is set but its length pointer is NULL", call);
    return -EINVAL;
  }
  int err;
  struct pollfd_desc *pd = pd_register(lfd, &err, call);
  if (!pd) return err;
  for (;;) {
    int fd = accept4(lfd, peer, peer ? len : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      tcp_nodelay(fd);
      if (!pd_register(fd, &err, call)) {
        close(fd);
        return err;
      }
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN) return -errno;
    int w = io_wait(lfd, pd, true, lim);
    if (w) return w;
  }
}

static const struct limit no_limit = {0, NULL};

int grt_accept_addr(int lfd, struct sockaddr *peer, socklen_t *len) {
  if (sched_forked()) return sched_forked_refuse("grt_accept_addr");
  RT_ENTER();
  return accept_addr(lfd, peer, len, no_limit, "grt_accept_addr");
}

int grt_accept(int lfd) {
  if (sched_forked()) return sched_forked_refuse("grt_accept");
  RT_ENTER();
  return accept_addr(lfd, NULL, NULL, no_limit, "grt_accept");
}

int grt_accept_addr_ctx(int lfd, struct sockaddr *peer, socklen_t *len, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_accept_addr_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_accept_addr_ctx");
  return accept_addr(lfd, peer, len, ctx_limit(ctx), "grt_accept_addr_ctx");
}

int grt_accept_ctx(int lfd, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_accept_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_accept_ctx");
  return accept_addr(lfd, NULL, NULL, ctx_limit(ctx), "grt_accept_ctx");
}

static ssize_t do_sendto(int fd, const void *buf, size_t n, const struct sockaddr *to,
                         socklen_t tolen, struct limit lim, const char *call) {
  if (null_buffer(buf, n, call)) return -EINVAL;
  if (!to && tolen != 0) {
    warn_line("grt: %s: to is NULL but tolen is %u", call, (unsigned)tolen);
    return -EINVAL;
  }
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, call);
  if (!pd) return err;
  for (;;) {
    ssize_t r = sendto(fd, buf, n, MSG_NOSIGNAL, to, to ? tolen : 0);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    int w = io_wait(fd, pd, false, lim);
    if (w) return w;
  }
}

ssize_t grt_sendto(int fd, const void *buf, size_t n, const struct sockaddr *to, socklen_t tolen,
                   int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_sendto");
  RT_ENTER();
  return do_sendto(fd, buf, n, to, tolen, timeout_limit(timeout_ns), "grt_sendto");
}

ssize_t grt_sendto_ctx(int fd, const void *buf, size_t n, const struct sockaddr *to,
                       socklen_t tolen, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_sendto_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_sendto_ctx");
  return do_sendto(fd, buf, n, to, tolen, ctx_limit(ctx), "grt_sendto_ctx");
}

static ssize_t do_recvfrom(int fd, void *buf, size_t n, struct sockaddr *from, socklen_t *fromlen,
                           struct limit lim, const char *call) {
  if (null_buffer(buf, n, call)) return -EINVAL;
  if (from && !fromlen) {
    warn_line("grt: %s: from is set but fromlen is NULL", call);
    return -EINVAL;
  }
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, call);
  if (!pd) return err;
  for (;;) {
    ssize_t r = recvfrom(fd, buf, n, 0, from, from ? fromlen : NULL);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    int w = io_wait(fd, pd, true, lim);
    if (w) return w;
  }
}

ssize_t grt_recvfrom(int fd, void *buf, size_t n, struct sockaddr *from, socklen_t *fromlen,
                     int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_recvfrom");
  RT_ENTER();
  return do_recvfrom(fd, buf, n, from, fromlen, timeout_limit(timeout_ns), "grt_recvfrom");
}

ssize_t grt_recvfrom_ctx(int fd, void *buf, size_t n, struct sockaddr *from, socklen_t *fromlen,
                         grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_recvfrom_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_recvfrom_ctx");
  return do_recvfrom(fd, buf, n, from, fromlen, ctx_limit(ctx), "grt_recvfrom_ctx");
}

struct resolve {
  const char *host;
  char port[16];
  int passive;
  struct addrinfo *res;
  int rc;
};

static void *resolve_external(void *arg) {
  struct resolve *r = arg;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  if (r->passive) hints.ai_flags = AI_PASSIVE;
  r->rc = getaddrinfo(r->host, r->port, &hints, &r->res);
  return NULL;
}

/* getaddrinfo may block on DNS: as external code, so the P runs others. */
static int resolve(const char *host, int port, int passive, struct addrinfo **res) {
  if (port < 0 || port > 65535) return -EINVAL;
  struct resolve r = {.host = host && *host ? host : NULL, .passive = passive};
  snprintf(r.port, sizeof r.port, "%d", port);
  grt_extcall(resolve_external, &r);
  if (r.rc != 0) return r.rc == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
  *res = r.res;
  return 0;
}

int grt_listen_tcp(const char *host, int port, int backlog) {
  if (sched_forked()) return sched_forked_refuse("grt_listen_tcp");
  struct addrinfo *res = NULL;
  int err = resolve(host, port, 1, &res);
  if (err) return err;
  err = -EADDRNOTAVAIL;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = sock_listen(a->ai_addr, a->ai_addrlen, a->ai_socktype, backlog, "grt_listen_tcp");
    if (fd >= 0) {
      freeaddrinfo(res);
      return fd;
    }
    err = fd;
  }
  freeaddrinfo(res);
  return err;
}

/* Tries each address of host until one connects; the limit is for them
 * all, and once it is over no other address is tried. */
static int connect_tcp(const char *host, int port, struct limit lim, const char *call) {
  struct addrinfo *res = NULL;
  int err = resolve(host, port, 0, &res);
  if (err) return err;
  err = -ECONNREFUSED;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = sock_connect(a->ai_addr, a->ai_addrlen, a->ai_socktype, lim, call);
    if (fd >= 0) {
      freeaddrinfo(res);
      return fd;
    }
    err = fd;
    if (err == -ETIMEDOUT || (lim.ctx && grt_ctx_err(lim.ctx))) break;
  }
  freeaddrinfo(res);
  return err;
}

int grt_connect_tcp(const char *host, int port, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_connect_tcp");
  RT_ENTER();
  return connect_tcp(host, port, timeout_limit(timeout_ns), "grt_connect_tcp");
}

int grt_connect_tcp_ctx(const char *host, int port, grt_ctx *ctx) {
  if (sched_forked()) return sched_forked_refuse("grt_connect_tcp_ctx");
  RT_ENTER();
  CTX_ARG(ctx, "grt_connect_tcp_ctx");
  return connect_tcp(host, port, ctx_limit(ctx), "grt_connect_tcp_ctx");
}
