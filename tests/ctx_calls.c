/*
 * ctx_calls: the _ctx form of every blocking call that takes a timeout
 * (and of accept), one convention: a wait ends when what it waits for is
 * ready or the context is done, and then returns the context's error.
 * For each of grt_read_ctx, grt_write_ctx, grt_wait_fd_ctx, grt_accept_ctx,
 * grt_accept_addr_ctx, grt_connect_tcp_ctx, grt_connect_addr_ctx,
 * grt_sendto_ctx, grt_recvfrom_ctx, grt_mutex_lock_ctx, grt_sem_acquire_ctx
 * and grt_sleep_ctx, set up so that the call must wait:
 *   - a context already done: -ECANCELED at once (the set-up would make
 *     any wait last forever);
 *   - cancelled by another goroutine 30 ms into the wait: -ECANCELED, not
 *     before 30 ms;
 *   - a 30 ms deadline: -ETIMEDOUT, not before;
 *   - a NULL context: -EINVAL and one line naming the call.
 * Then: the calls still succeed when the thing comes first (data, the
 * lock, the units, a sleep's end); a semaphore waiter removed by its
 * context from the head of the queue lets the one behind it in; many
 * goroutines racing mutex_lock_ctx deadlines against unlocks keep the
 * mutex exclusive and lose no wake-up, and so do read_ctx deadlines racing
 * the byte that ends the read; outside a goroutine, grt_read_ctx and
 * grt_mutex_lock_ctx end when another goroutine cancels.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

#define MS 1000000LL

struct env {
  int fds[2];
  int lfd;
  struct sockaddr_in addr; /* a listener whose accept queue is full */
  grt_mutex mu;
  grt_sem sem;
  int skip; /* the setup cannot make the call wait here */
};

static char buf[64];

/* Fills fd (non-blocking) until it would block. */
static void fill(int fd) {
  CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  static char big[4096];
  while (write(fd, big, sizeof big) > 0 || send(fd, big, 1, MSG_DONTWAIT) > 0)
    ;
}

static void pipe_setup(struct env *e) {
  CHECK(pipe(e->fds) == 0);
}
static void dgram_setup(struct env *e) {
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, e->fds) == 0);
}
static void full_pipe_setup(struct env *e) {
  pipe_setup(e);
  fill(e->fds[1]);
}
static void full_dgram_setup(struct env *e) {
  dgram_setup(e);
  fill(e->fds[0]);
}
static void listen_setup(struct env *e) {
  e->lfd = grt_listen_tcp("127.0.0.1", 0, 16);
  CHECK(e->lfd >= 0);
}

/* A listener that never accepts, its queue full, so a connect waits for
 * its SYN to be answered.  Returns 0 if this kernel answers anyway. */
static int full_listener(struct env *e) {
  e->lfd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(e->lfd >= 0);
  e->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(e->lfd, (struct sockaddr *)&e->addr, sizeof e->addr) == 0);
  socklen_t len = sizeof e->addr;
  CHECK(getsockname(e->lfd, (struct sockaddr *)&e->addr, &len) == 0);
  CHECK(listen(e->lfd, 0) == 0);
  for (int i = 0; i < 16; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    int r = connect(fd, (struct sockaddr *)&e->addr, sizeof e->addr);
    CHECK(r == 0 || errno == EINPROGRESS);
    /* left open: each holds its place in the queue (closed with the test) */
    if (r != 0 && grt_wait_fd(fd, GRT_WRITABLE, 200 * MS) == -ETIMEDOUT) return 1;
  }
  return 0;
}
static void connect_setup(struct env *e) {
  e->skip = !full_listener(e);
}

static void mutex_setup(struct env *e) {
  e->mu = (grt_mutex)GRT_MUTEX_INIT;
  grt_mutex_lock(&e->mu);
}
static void sem_setup(struct env *e) {
  e->sem = (grt_sem)GRT_SEM_INIT(0);
}

static long do_read(struct env *e, grt_ctx *c) {
  return grt_read_ctx(e->fds[0], buf, sizeof buf, c);
}
static long do_write(struct env *e, grt_ctx *c) {
  return grt_write_ctx(e->fds[1], buf, 1, c);
}
static long do_wait_fd(struct env *e, grt_ctx *c) {
  return grt_wait_fd_ctx(e->fds[0], GRT_READABLE, c);
}
static long do_accept(struct env *e, grt_ctx *c) {
  return grt_accept_ctx(e->lfd, c);
}
static long do_accept_addr(struct env *e, grt_ctx *c) {
  struct sockaddr_storage peer;
  socklen_t len = sizeof peer;
  return grt_accept_addr_ctx(e->lfd, (struct sockaddr *)&peer, &len, c);
}
static long do_connect_tcp(struct env *e, grt_ctx *c) {
  return grt_connect_tcp_ctx("127.0.0.1", ntohs(e->addr.sin_port), c);
}
static long do_connect_addr(struct env *e, grt_ctx *c) {
  return grt_connect_addr_ctx((struct sockaddr *)&e->addr, sizeof e->addr, SOCK_STREAM, c);
}
static long do_sendto(struct env *e, grt_ctx *c) {
  return grt_sendto_ctx(e->fds[0], buf, 1, NULL, 0, c);
}
static long do_recvfrom(struct env *e, grt_ctx *c) {
  struct sockaddr_storage from;
  socklen_t len = sizeof from;
  return grt_recvfrom_ctx(e->fds[1], buf, sizeof buf, (struct sockaddr *)&from, &len, c);
}
static long do_mutex(struct env *e, grt_ctx *c) {
  return grt_mutex_lock_ctx(&e->mu, c);
}
static void no_setup(struct env *e) {
  (void)e;
}
static long do_sleep(struct env *e, grt_ctx *c) {
  (void)e;
  return grt_sleep_ctx(3600000 * MS, c);
}
static long do_sem(struct env *e, grt_ctx *c) {
  return grt_sem_acquire_ctx(&e->sem, 1, c);
}

static const struct op {
  const char *name;
  void (*setup)(struct env *);
  long (*call)(struct env *, grt_ctx *);
} ops[] = {
    {"grt_read_ctx", pipe_setup, do_read},
    {"grt_write_ctx", full_pipe_setup, do_write},
    {"grt_wait_fd_ctx", pipe_setup, do_wait_fd},
    {"grt_accept_ctx", listen_setup, do_accept},
    {"grt_accept_addr_ctx", listen_setup, do_accept_addr},
    {"grt_sendto_ctx", full_dgram_setup, do_sendto},
    {"grt_recvfrom_ctx", dgram_setup, do_recvfrom},
    {"grt_mutex_lock_ctx", mutex_setup, do_mutex},
    {"grt_sem_acquire_ctx", sem_setup, do_sem},
    {"grt_sleep_ctx", no_setup, do_sleep},
    {"grt_connect_tcp_ctx", connect_setup, do_connect_tcp},
    {"grt_connect_addr_ctx", connect_setup, do_connect_addr},
};

static void cancel_later(void *arg) {
  grt_sleep(30 * MS);
  CHECK(grt_ctx_cancel(arg) == 1);
  grt_ctx_release(arg);
}

static void check_op(const struct op *op) {
  struct env e = {.fds = {-1, -1}, .lfd = -1};
  op->setup(&e);
  grt_ctx *bg = grt_ctx_background();
  if (e.skip) {
    printf("%-22s not checked: this kernel completes connects to a full listener\n", op->name);
    grt_close(e.lfd);
    return;
  }

  grt_ctx *c = grt_ctx_with_cancel(bg);
  grt_ctx_cancel(c);
  /* (Were it to wait, nothing would end the wait: the alarm would.) */
  CHECK(op->call(&e, c) == -ECANCELED);
  int64_t t0;
  grt_ctx_free(c);

  c = grt_ctx_with_cancel(bg);
  CHECK(grt_go(cancel_later, grt_ctx_retain(c)) == 0);
  t0 = grt_nanotime();
  long r = op->call(&e, c);
  int64_t cancelled = grt_nanotime() - t0;
  CHECK(r == -ECANCELED && cancelled >= 30 * MS);
  grt_ctx_free(c);

  t0 = grt_nanotime(); /* before the deadline is set: the clock starts there */
  c = grt_ctx_with_timeout(bg, 30 * MS);
  r = op->call(&e, c);
  int64_t timedout = grt_nanotime() - t0;
  CHECK(r == -ETIMEDOUT && timedout >= 29 * MS);
  grt_ctx_free(c);

  ONE_LINE(op->name, CHECK(op->call(&e, NULL) == -EINVAL));
  printf("%-22s cancelled after %.1f ms, timed out after %.1f ms\n", op->name, cancelled / 1e6,
         timedout / 1e6);
  for (int i = 0; i < 2; i++)
    if (e.fds[i] >= 0) grt_close(e.fds[i]);
  if (e.lfd >= 0) grt_close(e.lfd);
}

/* ---- the calls still succeed, and the finer points ---- */

struct later {
  int fd;
  grt_mutex *mu;
  grt_sem *sem;
};
static void write_later(void *arg) {
  struct later *l = arg;
  grt_sleep(20 * MS);
  if (l->fd >= 0) CHECK(write(l->fd, "y", 1) == 1);
  if (l->mu) grt_mutex_unlock(l->mu);
  if (l->sem) CHECK(grt_sem_release(l->sem, 1) == 0);
}

static grt_sem sem = GRT_SEM_INIT(1);
static _Atomic int big_result = 1, small_result = 1;
static grt_wg wg = GRT_WG_INIT;
static void want_big(void *arg) {
  atomic_store(&big_result, grt_sem_acquire_ctx(&sem, 5, arg));
  grt_wg_done(&wg);
}
static void want_small(void *arg) {
  (void)arg;
  atomic_store(&small_result, grt_sem_acquire_ctx(&sem, 1, grt_ctx_background()));
  grt_wg_done(&wg);
}

static grt_mutex racemu = GRT_MUTEX_INIT;
static _Atomic int inside, got, timedout_n;
static void racer(void *arg) {
  for (int i = 0; i < 200; i++) {
    grt_ctx *c = grt_ctx_with_timeout(grt_ctx_background(), (i % 7) * 20000);
    int r = grt_mutex_lock_ctx(&racemu, c);
    if (r == 0) {
      CHECK(atomic_fetch_add(&inside, 1) == 0);
      if (i % 3 == 0) grt_sleep(30000); /* held across the others' deadlines */
      atomic_fetch_sub(&inside, 1);
      atomic_fetch_add(&got, 1);
      grt_mutex_unlock(&racemu);
    } else {
      CHECK(r == -ETIMEDOUT);
      atomic_fetch_add(&timedout_n, 1);
    }
    grt_ctx_free(c);
  }
  (void)arg;
  grt_wg_done(&wg);
}

/* A read's deadline racing the byte that would end it (and the context's
 * wake racing the netpoller's, over a waiter on the reader's stack). */
struct byte_later {
  int fd;
  int64_t ns;
};
static void write_byte(void *arg) {
  struct byte_later *l = arg;
  grt_sleep(l->ns);
  CHECK(write(l->fd, "x", 1) == 1);
  free(l);
}
static _Atomic int io_got, io_timedout;
static void io_racer(void *arg) {
  (void)arg;
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  for (int i = 0; i < 200; i++) {
    /* Both on timers of the same few tens of microseconds. */
    grt_ctx *c = grt_ctx_with_timeout(grt_ctx_background(), 5000 + (i % 7) * 10000);
    struct byte_later *l = malloc(sizeof *l);
    CHECK(l);
    *l = (struct byte_later){sv[1], (i % 5) * 15000};
    CHECK(grt_go(write_byte, l) == 0);
    char b;
    long r = grt_read_ctx(sv[0], &b, 1, c);
    if (r == -ETIMEDOUT) {
      atomic_fetch_add(&io_timedout, 1);
      r = grt_read(sv[0], &b, 1, 5000 * MS); /* the byte still comes */
    } else {
      atomic_fetch_add(&io_got, 1);
    }
    CHECK(r == 1 && b == 'x');
    grt_ctx_free(c);
  }
  grt_close(sv[0]);
  grt_close(sv[1]);
  grt_wg_done(&wg);
}

struct foreign {
  int fd;
  grt_mutex *mu;
  grt_ctx *c1, *c2; /* cancelled 30 ms, then 60 ms, into the thread's waits */
  long r1, r2;
};
static void *foreign(void *arg) {
  struct foreign *f = arg;
  f->r1 = grt_read_ctx(f->fd, buf, sizeof buf, f->c1);
  f->r2 = grt_mutex_lock_ctx(f->mu, f->c2);
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  alarm(120); /* a wait the context never ends fails the test (SIGALRM), not hangs it */
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    check_op(&ops[i]);

  /* Success when the thing comes first. */
  int p[2];
  CHECK(pipe(p) == 0);
  grt_mutex mu = GRT_MUTEX_INIT;
  grt_mutex_lock(&mu);
  grt_sem s0 = GRT_SEM_INIT(0);
  struct later l = {p[1], &mu, &s0};
  grt_ctx *c = grt_ctx_with_timeout(grt_ctx_background(), 5000 * MS);
  CHECK(grt_go(write_later, &l) == 0);
  CHECK(grt_read_ctx(p[0], buf, sizeof buf, c) == 1 && buf[0] == 'y');
  CHECK(grt_mutex_lock_ctx(&mu, c) == 0);
  grt_mutex_unlock(&mu);
  CHECK(grt_sem_acquire_ctx(&s0, 1, c) == 0);
  int64_t t0 = grt_nanotime();
  CHECK(grt_sleep_ctx(20 * MS, c) == 0 && grt_nanotime() - t0 >= 20 * MS);
  CHECK(grt_wait_fd_ctx(p[1], GRT_WRITABLE, c) == GRT_WRITABLE);
  CHECK(grt_write_ctx(p[1], "z", 1, c) == 1);
  CHECK(grt_read_ctx(p[0], buf, sizeof buf, c) == 1 && buf[0] == 'z');
  grt_ctx_free(c);
  printf("success before the context: ok\n");

  /* The semaphore's head waiter leaves: the next one gets its unit. */
  c = grt_ctx_with_cancel(grt_ctx_background());
  grt_wg_add(&wg, 2);
  CHECK(grt_go(want_big, c) == 0);
  grt_sleep(10 * MS);
  CHECK(grt_go(want_small, NULL) == 0);
  grt_sleep(10 * MS);
  CHECK(atomic_load(&small_result) == 1); /* behind the big one */
  grt_ctx_cancel(c);
  grt_wg_wait(&wg);
  CHECK(atomic_load(&big_result) == -ECANCELED && atomic_load(&small_result) == 0);
  grt_ctx_free(c);
  printf("semaphore head removed: ok\n");

  /* Deadlines racing unlocks. */
  grt_wg_add(&wg, 8);
  for (int i = 0; i < 8; i++)
    CHECK(grt_go(racer, NULL) == 0);
  grt_wg_wait(&wg);
  printf("lock_ctx race: %d locked, %d timed out\n", atomic_load(&got), atomic_load(&timedout_n));
  CHECK(atomic_load(&got) + atomic_load(&timedout_n) == 8 * 200);
  CHECK(grt_mutex_trylock(&racemu) == 1); /* left unlocked */
  grt_mutex_unlock(&racemu);
  grt_wg_add(&wg, 8);
  for (int i = 0; i < 8; i++)
    CHECK(grt_go(io_racer, NULL) == 0);
  grt_wg_wait(&wg);
  printf("read_ctx race: %d read, %d timed out\n", atomic_load(&io_got), atomic_load(&io_timedout));

  /* Outside a goroutine: polls the context. */
  grt_mutex_lock(&mu);
  struct foreign f = {p[0],
                      &mu,
                      grt_ctx_with_cancel(grt_ctx_background()),
                      grt_ctx_with_cancel(grt_ctx_background()),
                      0,
                      0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, foreign, &f) == 0);
  grt_sleep(30 * MS);
  grt_ctx_cancel(f.c1);
  grt_sleep(30 * MS);
  grt_ctx_cancel(f.c2);
  CHECK(join_thread(th) == 0);
  CHECK(f.r1 == -ECANCELED && f.r2 == -ECANCELED);
  grt_ctx_free(f.c1);
  grt_ctx_free(f.c2);
  grt_mutex_unlock(&mu);
  printf("outside a goroutine: ok\n");
  grt_close(p[0]);
  grt_close(p[1]);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
