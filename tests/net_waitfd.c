/*
 * net_waitfd: grt_wait_fd parks a goroutine until any fd is ready.
 *   - a pipe: timeout 0 on an empty pipe is -ETIMEDOUT at once; a 30 ms
 *     timeout is -ETIMEDOUT after 30 ms, not before; forever (-1 and
 *     INT64_MAX) returns GRT_READABLE once another goroutine writes 50 ms
 *     later; a full pipe is not writable until a reader drains it; a
 *     readiness latched and then consumed with plain read(2) is not
 *     reported (the answer is level, not a stale edge);
 *   - a socket pair, both directions at once: only GRT_WRITABLE while
 *     nothing is queued, both once the peer writes;
 *   - a goroutine parked in grt_wait_fd is woken with -EBADF when another
 *     goroutine grt_closes the fd (within its 5 s timeout: a lost wakeup
 *     fails, as -ETIMEDOUT, instead of hanging);
 *   - outside a goroutine (a plain thread) it polls: -ETIMEDOUT, then
 *     GRT_READABLE, and leaves the fd's flags alone;
 *   - misuse: events 0, or with other bits, is -EINVAL with one line.
 * While a goroutine waits, a ticker keeps running on the single P: the
 * wait did not block the thread.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "testutil.h"

static _Atomic long ticks;
static _Atomic int stop;
static grt_wg ticker_done, wg;

static void ticker(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    atomic_fetch_add(&ticks, 1);
    grt_sleep(1000000);
  }
  grt_wg_done(&ticker_done);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct later {
  int fd;
  int64_t delay_ns;
};

static void write_later(void *arg) {
  struct later *l = arg;
  grt_sleep(l->delay_ns);
  CHECK(write(l->fd, "x", 1) == 1);
  grt_wg_done(&wg);
}

static void close_later(void *arg) {
  struct later *l = arg;
  grt_sleep(l->delay_ns);
  CHECK(grt_close(l->fd) == 0);
  grt_wg_done(&wg);
}

/* Waits forever on p[0] while a goroutine writes after 50 ms. */
static void forever_then_write(int p[2], int64_t forever) {
  struct later l = {p[1], 50000000};
  grt_wg_add(&wg, 1);
  CHECK(grt_go(write_later, &l) == 0);
  long t0 = atomic_load(&ticks);
  int64_t start = now_ns();
  CHECK(grt_wait_fd(p[0], GRT_READABLE, forever) == GRT_READABLE);
  CHECK(now_ns() - start >= 40000000);
  CHECK(atomic_load(&ticks) - t0 >= 5); /* the P ran the ticker meanwhile */
  grt_wg_wait(&wg);
  char c;
  CHECK(read(p[0], &c, 1) == 1);
}

static void *outside(void *arg) {
  int *p = arg;
  int flags = fcntl(p[0], F_GETFL);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 0) == -ETIMEDOUT);
  int64_t start = now_ns();
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 20000000) == -ETIMEDOUT);
  CHECK(now_ns() - start >= 20000000);
  CHECK(write(p[1], "y", 1) == 1);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, -1) == GRT_READABLE);
  CHECK(grt_wait_fd(p[0], GRT_READABLE | GRT_WRITABLE, -1) == GRT_READABLE);
  CHECK(fcntl(p[0], F_GETFL) == flags); /* untouched outside a goroutine */
  return NULL;
}

/* Exactly one stderr line naming call while fn runs. */
static void one_line(const char *call, int (*fn)(int), int arg, int want) {
  fflush(stderr);
  int cap = memfd_create("stderr", 0), saved = dup(2);
  CHECK(cap >= 0 && saved >= 0 && dup2(cap, 2) == 2);
  int r = fn(arg);
  CHECK(dup2(saved, 2) == 2);
  close(saved);
  char buf[1024];
  ssize_t n = pread(cap, buf, sizeof buf - 1, 0);
  close(cap);
  CHECK(n > 0);
  buf[n] = 0;
  int lines = 0;
  for (char *q = buf; *q; q++)
    lines += *q == '\n';
  if (r != want || lines != 1 || !strstr(buf, call))
    fprintf(stderr, "misuse: got %d (want %d), stderr: %s", r, want, buf);
  CHECK(r == want && lines == 1 && strstr(buf, call));
}

static int wait_events_0(int fd) {
  return grt_wait_fd(fd, 0, 0);
}
static int wait_events_bad(int fd) {
  return grt_wait_fd(fd, GRT_READABLE | 8, 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&ticker_done, 1);
  CHECK(grt_go(ticker, NULL) == 0);

  /* A pipe: timeouts 0 and 30 ms, then forever with a later write. */
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 0) == -ETIMEDOUT);
  int64_t start = now_ns();
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 30000000) == -ETIMEDOUT);
  CHECK(now_ns() - start >= 30000000);
  CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK); /* registered, as grt_read does */
  forever_then_write(p, -1);
  forever_then_write(p, INT64_MAX);

  /* A stale edge: data came (latched with no waiter), then was read with
   * read(2); the pipe is empty again, so timeout 0 must say so. */
  CHECK(write(p[1], "z", 1) == 1);
  grt_sleep(5000000); /* the scheduler polls and latches the edge */
  char c;
  CHECK(read(p[0], &c, 1) == 1);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 0) == -ETIMEDOUT);

  /* The write end: writable until full, then not; a reader makes room. */
  CHECK(grt_wait_fd(p[1], GRT_WRITABLE, 0) == GRT_WRITABLE);
  CHECK(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK) == 0);
  static char junk[65536];
  while (write(p[1], junk, sizeof junk) > 0) {
  }
  CHECK(grt_wait_fd(p[1], GRT_WRITABLE, 20000000) == -ETIMEDOUT);
  while (read(p[0], junk, sizeof junk) > 0) {
  }
  CHECK(grt_wait_fd(p[1], GRT_WRITABLE, 1000000000) == GRT_WRITABLE);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 0) == -ETIMEDOUT);

  /* A socket pair, both directions at once. */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(grt_wait_fd(sv[0], GRT_READABLE | GRT_WRITABLE, -1) == GRT_WRITABLE);
  CHECK(grt_wait_fd(sv[0], GRT_READABLE, 0) == -ETIMEDOUT);
  struct later ls = {sv[1], 30000000};
  grt_wg_add(&wg, 1);
  CHECK(grt_go(write_later, &ls) == 0);
  CHECK(grt_wait_fd(sv[0], GRT_READABLE, 2000000000) == GRT_READABLE);
  grt_wg_wait(&wg);
  CHECK(grt_wait_fd(sv[0], GRT_READABLE | GRT_WRITABLE, 0) == (GRT_READABLE | GRT_WRITABLE));
  CHECK(read(sv[0], &c, 1) == 1 && c == 'x');

  /* grt_close wakes a waiter with -EBADF: the pipe's read end, and the
   * socket's other end (read side: its write side is ready at once). */
  struct later lc = {p[0], 30000000};
  grt_wg_add(&wg, 1);
  CHECK(grt_go(close_later, &lc) == 0);
  long t0 = atomic_load(&ticks);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 5 * 1000000000LL) == -EBADF); /* bounded */
  CHECK(atomic_load(&ticks) - t0 >= 3);
  grt_wg_wait(&wg);
  CHECK(grt_wait_fd(p[0], GRT_READABLE, 0) == -EBADF); /* closed: a bad fd */
  struct later lc2 = {sv[1], 30000000};
  grt_wg_add(&wg, 1);
  CHECK(grt_go(close_later, &lc2) == 0);
  CHECK(grt_wait_fd(sv[1], GRT_READABLE, 5 * 1000000000LL) == -EBADF);
  grt_wg_wait(&wg);

  /* Outside a goroutine: a plain thread on a fresh pipe. */
  int q[2];
  CHECK(pipe(q) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, outside, q) == 0);
  CHECK(join_thread(t) == 0);

  /* Misuse. */
  one_line("grt_wait_fd", wait_events_0, q[0], -EINVAL);
  one_line("grt_wait_fd", wait_events_bad, q[0], -EINVAL);

  close(q[0]);
  close(q[1]);
  grt_close(p[1]);
  grt_close(sv[0]);
  atomic_store(&stop, 1);
  grt_wg_wait(&ticker_done);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
