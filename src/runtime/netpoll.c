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

struct pwait {
  struct g *g;
  int result; /* 1 while waiting; then 0, -ETIMEDOUT or -EBADF */
};

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

/* Under pd->lock: unlinks *slot's waiter with result and readies it. */
static void wake_waiter(struct pwait **slot, int result) {
  struct pwait *w = *slot;
  *slot = NULL;
  w->result = result;
  sched_ready_next(w->g, false);
}

static void deadline_fired(struct pollfd_desc *pd, bool read) {
  rt_lock_acquire(&pd->lock);
  struct pwait **slot = read ? &pd->rw : &pd->ww;
  int64_t deadline = read ? pd->rdeadline : pd->wdeadline;
  if (*slot && deadline != 0 && nanotime() >= deadline) wake_waiter(slot, -ETIMEDOUT);
  rt_lock_release(&pd->lock);
}
static void read_deadline(void *pd) {
  deadline_fired(pd, true);
}
static void write_deadline(void *pd) {
  deadline_fired(pd, false);
}

/* Parks the calling goroutine until fd is ready for reading (read) or
 * writing, the deadline (0: none) passes, or the fd is closed. */
static int pd_wait(struct pollfd_desc *pd, bool read, int64_t deadline) {
  struct g *gp = getcurg();
  rt_lock_acquire(&pd->lock);
  if (pd->closing) {
    rt_lock_release(&pd->lock);
    return -EBADF;
  }
  bool *ready = read ? &pd->rready : &pd->wready;
  if (*ready) {
    *ready = false;
    rt_lock_release(&pd->lock);
    return 0;
  }
  if (deadline != 0 && nanotime() >= deadline) {
    rt_lock_release(&pd->lock);
    return -ETIMEDOUT;
  }
  struct pwait **slot = read ? &pd->rw : &pd->ww;
  if (*slot) {
    rt_lock_release(&pd->lock);
    return -EBUSY;
  }
  struct pwait w = {.g = gp, .result = 1};
  *slot = &w;
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
  return w.result;
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
    struct pwait *woke[2] = {NULL, NULL};
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      if (pd->rw) {
        woke[0] = pd->rw;
        pd->rw = NULL;
      } else {
        pd->rready = true;
      }
    }
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      if (pd->ww) {
        woke[1] = pd->ww;
        pd->ww = NULL;
      } else {
        pd->wready = true;
      }
    }
    for (int k = 0; k < 2; k++) {
      if (!woke[k]) continue;
      woke[k]->result = 0;
      woke[k]->g->schedlink = *list;
      *list = woke[k]->g;
      count++;
    }
    rt_lock_release(&pd->lock);
  }
  return count;
}

/* ---- the API -------------------------------------------------------------- */

/* A relative timeout as the deadline the waits take: 0 (none) for a
 * negative one or one so large that the deadline would not fit (forever);
 * for 0, now (the wait only looks). */
static int64_t deadline_of(int64_t timeout_ns) {
  if (timeout_ns < 0) return 0;
  int64_t d = deadline_after(timeout_ns);
  return d == DEADLINE_NEVER ? 0 : d;
}

/* Outside a goroutine: block the thread in poll(2). */
static int thread_wait(int fd, bool read, int64_t deadline) {
  struct pollfd p = {.fd = fd, .events = read ? POLLIN : POLLOUT};
  for (;;) {
    int ms = -1;
    if (deadline) {
      int64_t left = deadline - nanotime();
      if (left <= 0) return -ETIMEDOUT;
      ms = timeout_ms(left);
    }
    int r = poll(&p, 1, ms);
    if (r > 0) return 0;
    if (r == 0) continue; /* recheck the deadline */
    if (errno != EINTR) return -errno;
  }
}

static int io_wait(int fd, struct pollfd_desc *pd, bool read, int64_t deadline) {
  return getcurg() ? pd_wait(pd, read, deadline) : thread_wait(fd, read, deadline);
}

/* A NULL buffer for n > 0 bytes: one line naming the call. */
static bool null_buffer(const void *buf, size_t n, const char *call) {
  if (buf || n == 0) return false;
  warn_line("grt: %s: buf is NULL", call);
  return true;
}

ssize_t grt_read(int fd, void *buf, size_t n, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_read");
  RT_ENTER();
  if (null_buffer(buf, n, "grt_read")) return -EINVAL;
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, "grt_read");
  if (!pd) return err;
  int64_t deadline = deadline_of(timeout_ns);
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    int w = io_wait(fd, pd, true, deadline);
    if (w) return w;
  }
}

ssize_t grt_write(int fd, const void *buf, size_t n, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_write");
  RT_ENTER();
  if (null_buffer(buf, n, "grt_write")) return -EINVAL;
  int err;
  struct pollfd_desc *pd = pd_register(fd, &err, "grt_write");
  if (!pd) return err;
  int64_t deadline = deadline_of(timeout_ns);
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
    int w = io_wait(fd, pd, false, deadline);
    if (w) return done ? (ssize_t)done : w;
  }
  return (ssize_t)done;
}

int grt_close(int fd) {
  if (sched_forked()) return sched_forked_refuse("grt_close");
  RT_ENTER();
  struct pollfd_desc *pd = pd_get(fd);
  if (pd) {
    rt_lock_acquire(&pd->lock);
    if (pd->registered) {
      pd->closing = true;
      if (pd->rw) wake_waiter(&pd->rw, -EBADF);
      if (pd->ww) wake_waiter(&pd->ww, -EBADF);
      epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
      pd->registered = false;
      pd->rready = pd->wready = false;
    }
    rt_lock_release(&pd->lock);
  }
  return close(fd) == 0 ? 0 : -errno;
}

int grt_accept(int lfd) {
  if (sched_forked()) return sched_forked_refuse("grt_accept");
  RT_ENTER();
  int err;
  struct pollfd_desc *pd = pd_register(lfd, &err, "grt_accept");
  if (!pd) return err;
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (!pd_register(fd, &err, "grt_accept")) {
        close(fd);
        return err;
      }
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN) return -errno;
    int w = io_wait(lfd, pd, true, 0);
    if (w) return w;
  }
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
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = -errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog > 0 ? backlog : 128) == 0 &&
        pd_register(fd, &err, "grt_listen_tcp")) {
      freeaddrinfo(res);
      return fd;
    }
    if (errno) err = -errno;
    close(fd);
  }
  freeaddrinfo(res);
  return err;
}

int grt_connect_tcp(const char *host, int port, int64_t timeout_ns) {
  if (sched_forked()) return sched_forked_refuse("grt_connect_tcp");
  RT_ENTER();
  int64_t deadline = deadline_of(timeout_ns);
  struct addrinfo *res = NULL;
  int err = resolve(host, port, 0, &res);
  if (err) return err;
  err = -ECONNREFUSED;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = -errno;
      continue;
    }
    struct pollfd_desc *pd = pd_register(fd, &err, "grt_connect_tcp");
    if (!pd) {
      close(fd);
      continue;
    }
    int r = connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      /* Writable, with no error, and a peer: connected.  A wakeup without
       * a peer is spurious (a readiness left over from an earlier socket
       * with the same fd number): wait again, as Go's connect does. */
      for (;;) {
        r = io_wait(fd, pd, false, deadline);
        if (r != 0) break;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
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
      r = -errno;
    }
    if (r == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(res);
      return fd;
    }
    err = r;
    grt_close(fd);
    if (err == -ETIMEDOUT) break;
  }
  freeaddrinfo(res);
  return err;
}
