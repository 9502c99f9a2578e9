/*
 * net_timeout_extremes: every timeout parameter of the network calls at its
 * extremes.  "Forever" is a negative timeout, INT64_MAX, or any value whose
 * deadline would not fit the clock (INT64_MAX - 1 overflows now + ns too);
 * INT64_MAX / 2 fits (146 years) and must wait as long.  Before the fix
 * now + ns wrapped negative, so these waits timed out at once (-ETIMEDOUT,
 * or a short count from grt_write); under UBSan the overflow aborted.
 *   - grt_read: one reader per forever value, each on its own connection,
 *     still waiting after 200 ms; then a write from another goroutine
 *     completes each (one of them instead by grt_close: -EBADF).  The same
 *     on a plain thread (poll(2)).  0 only looks: -ETIMEDOUT at once.
 *   - grt_write: one writer per forever value sends 4 MiB to a peer that
 *     does not read (small socket buffers), still blocked after 200 ms;
 *     then the peer drains and each write returns the whole 4 MiB, not a
 *     short count.  0 only looks: a short count or -ETIMEDOUT at once.
 *   - grt_accept (it has no timeout): still waiting after 200 ms, then a
 *     connection completes it.
 *   - grt_connect_tcp: with the listener's accept queue full, the kernel
 *     drops each SYN, so a connect waits; one per forever value still
 *     waits after 200 ms; once the queue is drained, every one completes
 *     (at the client's next SYN, about 1 s later).  0 only looks:
 *     -ETIMEDOUT at once.
 * Everything runs on loopback.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

#define WAIT_NS (200LL * 1000 * 1000)
#define SECOND (1000LL * 1000 * 1000)
#define WRITE_BYTES (4 << 20)
#define NFOREVER 5

static int64_t forever[NFOREVER] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2, -1, INT64_MIN};

struct waiter {
  int fd;
  int64_t timeout;
  _Atomic int done;
  ssize_t result;
};

static grt_wg wg;

static int listen_port(int lfd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  return ntohs(sa.sin_port);
}

struct pair {
  int client, server;
};

static void make_pair(int lfd, struct pair *p) {
  p->client = grt_connect_tcp("127.0.0.1", listen_port(lfd), 5 * SECOND);
  CHECK(p->client >= 0);
  p->server = grt_accept(lfd);
  CHECK(p->server >= 0);
}

static void finish(struct waiter *w, ssize_t r) {
  w->result = r;
  atomic_store(&w->done, 1);
  grt_wg_done(&wg);
}

/* Waits until every waiter is done, at most limit_ns; false if one is not. */
static int wait_done(struct waiter *ws, int n, int64_t limit_ns) {
  int64_t end = grt_nanotime() + limit_ns;
  for (;;) {
    int all = 1;
    for (int i = 0; i < n; i++)
      all &= atomic_load(&ws[i].done);
    if (all) return 1;
    if (grt_nanotime() > end) return 0;
    grt_sleep(1000000);
  }
}

static void check_still_waiting(struct waiter *ws, int n, const char *what) {
  for (int i = 0; i < n; i++) {
    printf("%s, timeout %lld: %s after 200 ms\n", what, (long long)ws[i].timeout,
           atomic_load(&ws[i].done) ? "returned" : "still waiting");
    if (atomic_load(&ws[i].done))
      fprintf(stderr, "%s, timeout %lld: returned %zd within 200 ms\n", what,
              (long long)ws[i].timeout, ws[i].result);
    CHECK(!atomic_load(&ws[i].done));
  }
}

/* ---- grt_read ---- */

static void reader(void *arg) {
  struct waiter *w = arg;
  char c;
  finish(w, grt_read(w->fd, &c, 1, w->timeout));
}

static void *thread_reader(void *arg) {
  struct waiter *w = arg;
  char c;
  w->result = grt_read(w->fd, &c, 1, w->timeout);
  atomic_store(&w->done, 1);
  return NULL;
}

static void check_read(int lfd) {
  struct pair p[NFOREVER + 1];
  struct waiter w[NFOREVER + 1];
  grt_wg_add(&wg, NFOREVER);
  for (int i = 0; i < NFOREVER; i++) {
    make_pair(lfd, &p[i]);
    w[i] = (struct waiter){.fd = p[i].client, .timeout = forever[i]};
    CHECK(grt_go(reader, &w[i]) == 0);
  }
  /* And one on a plain thread, which polls with poll(2). */
  make_pair(lfd, &p[NFOREVER]);
  w[NFOREVER] = (struct waiter){.fd = p[NFOREVER].client, .timeout = INT64_MAX};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_reader, &w[NFOREVER]) == 0);

  grt_sleep(WAIT_NS);
  check_still_waiting(w, NFOREVER, "grt_read");
  check_still_waiting(&w[NFOREVER], 1, "grt_read on a plain thread");

  /* The event comes: a byte for each, except one that gets its fd closed. */
  const int closed = 1;
  for (int i = 0; i <= NFOREVER; i++)
    if (i != closed) CHECK(grt_write(p[i].server, "x", 1, SECOND) == 1);
  CHECK(grt_close(p[closed].client) == 0);
  grt_wg_wait(&wg);
  CHECK(join_thread(t) == 0);
  for (int i = 0; i <= NFOREVER; i++) {
    printf("grt_read, timeout %lld: %zd\n", (long long)w[i].timeout, w[i].result);
    CHECK(w[i].result == (i == closed ? -EBADF : 1));
  }

  /* 0 only looks. */
  int64_t t0 = grt_nanotime();
  char c;
  CHECK(grt_read(p[0].client, &c, 1, 0) == -ETIMEDOUT);
  CHECK(grt_nanotime() - t0 < 100 * 1000 * 1000);
  for (int i = 0; i <= NFOREVER; i++) {
    if (i != closed) grt_close(p[i].client);
    grt_close(p[i].server);
  }
}

/* ---- grt_write ---- */

static char big[WRITE_BYTES];

static void writer(void *arg) {
  struct waiter *w = arg;
  finish(w, grt_write(w->fd, big, sizeof big, w->timeout));
}

static void drain(void *arg) {
  int fd = *(int *)arg;
  static char buf[1 << 16];
  size_t got = 0;
  while (got < sizeof big) {
    ssize_t r = grt_read(fd, buf, sizeof buf, 10 * SECOND);
    CHECK(r > 0);
    got += (size_t)r;
  }
  grt_wg_done(&wg);
}

static void small_buffers(struct pair *p) {
  int small = 16384;
  CHECK(setsockopt(p->client, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  CHECK(setsockopt(p->server, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
}

static void check_write(int lfd) {
  struct pair p[NFOREVER];
  struct waiter w[NFOREVER];
  grt_wg_add(&wg, NFOREVER);
  for (int i = 0; i < NFOREVER; i++) {
    make_pair(lfd, &p[i]);
    small_buffers(&p[i]);
    w[i] = (struct waiter){.fd = p[i].client, .timeout = forever[i]};
    CHECK(grt_go(writer, &w[i]) == 0);
  }
  grt_sleep(WAIT_NS);
  check_still_waiting(w, NFOREVER, "grt_write of 4 MiB");
  grt_wg_add(&wg, NFOREVER);
  for (int i = 0; i < NFOREVER; i++)
    CHECK(grt_go(drain, &p[i].server) == 0);
  grt_wg_wait(&wg);
  for (int i = 0; i < NFOREVER; i++) {
    printf("grt_write, timeout %lld: %zd of %zu bytes\n", (long long)w[i].timeout, w[i].result,
           sizeof big);
    CHECK(w[i].result == (ssize_t)sizeof big);
  }

  /* 0 only looks: the buffers fill, and it returns what went out. */
  int64_t t0 = grt_nanotime();
  ssize_t r = grt_write(p[0].client, big, sizeof big, 0);
  printf("grt_write with timeout 0: %zd after %.3f ms\n", r, (grt_nanotime() - t0) / 1e6);
  CHECK(r == -ETIMEDOUT || (r >= 0 && r < (ssize_t)sizeof big));
  CHECK(grt_nanotime() - t0 < 100 * 1000 * 1000);
  for (int i = 0; i < NFOREVER; i++) {
    grt_close(p[i].client);
    grt_close(p[i].server);
  }
}

/* ---- grt_accept ---- */

static void acceptor(void *arg) {
  struct waiter *w = arg;
  finish(w, grt_accept(w->fd));
}

static void check_accept(void) {
  int lfd = grt_listen_tcp("127.0.0.1", 0, 16);
  CHECK(lfd >= 0);
  struct waiter w = {.fd = lfd, .timeout = -1};
  grt_wg_add(&wg, 1);
  CHECK(grt_go(acceptor, &w) == 0);
  grt_sleep(WAIT_NS);
  check_still_waiting(&w, 1, "grt_accept (no timeout)");
  int c = grt_connect_tcp("127.0.0.1", listen_port(lfd), 5 * SECOND);
  CHECK(c >= 0);
  grt_wg_wait(&wg);
  CHECK(w.result >= 0);
  grt_close((int)w.result);
  grt_close(c);
  grt_close(lfd);
}

/* ---- grt_connect_tcp ---- */

static int port;

static void connector(void *arg) {
  struct waiter *w = arg;
  finish(w, grt_connect_tcp("127.0.0.1", port, w->timeout));
}

/* Accepts (and closes) connections until told to stop; a connection
 * after the stop makes sure it sees it. */
static _Atomic int stop_accepting;
static grt_wg acceptor_done;
static void accept_all(void *arg) {
  int lfd = *(int *)arg;
  while (!atomic_load(&stop_accepting)) {
    int fd = grt_accept(lfd);
    CHECK(fd >= 0);
    grt_close(fd);
  }
  grt_wg_done(&acceptor_done);
}

static void check_connect(void) {
  int lfd = grt_listen_tcp("127.0.0.1", 0, 1);
  CHECK(lfd >= 0);
  port = listen_port(lfd);
  /* Fill the accept queue until the kernel says it is full (for a
   * listening socket, TCP_INFO's unacked is the queue's length and sacked
   * its limit; the queue is full past the limit).  Going by a connect that
   * times out instead failed under load: a connect slowed by a busy
   * machine looked like a full queue, and the later ones then got in.
   * qemu-user passes on only the first word of TCP_INFO: there the queue
   * is taken as full after Linux's limit for a backlog of 1, 2. */
  int queued[16], nqueued = 0, r;
  for (;;) {
    struct tcp_info ti = {0};
    socklen_t len = sizeof ti;
    CHECK(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
    if (len < offsetof(struct tcp_info, tcpi_sacked) + sizeof ti.tcpi_sacked) {
      if (nqueued == 2) break;
    } else if (ti.tcpi_unacked > ti.tcpi_sacked) {
      break;
    }
    CHECK(nqueued < 16);
    r = grt_connect_tcp("127.0.0.1", port, 5 * SECOND);
    CHECK(r >= 0);
    queued[nqueued++] = r;
  }
  CHECK(grt_connect_tcp("127.0.0.1", port, 100 * 1000 * 1000) == -ETIMEDOUT);
  printf("accept queue full after %d connections\n", nqueued);

  /* 0 only looks. */
  int64_t t0 = grt_nanotime();
  CHECK(grt_connect_tcp("127.0.0.1", port, 0) == -ETIMEDOUT);
  CHECK(grt_nanotime() - t0 < 100 * 1000 * 1000);

  struct waiter w[NFOREVER];
  grt_wg_add(&wg, NFOREVER);
  for (int i = 0; i < NFOREVER; i++) {
    w[i] = (struct waiter){.timeout = forever[i]};
    CHECK(grt_go(connector, &w[i]) == 0);
  }
  grt_sleep(WAIT_NS);
  check_still_waiting(w, NFOREVER, "grt_connect_tcp to a full accept queue");

  grt_wg_add(&acceptor_done, 1);
  CHECK(grt_go(accept_all, &lfd) == 0);
  t0 = grt_nanotime();
  CHECK(wait_done(w, NFOREVER, 30 * SECOND));
  printf("the connects completed %.2f s after the queue was drained\n",
         (grt_nanotime() - t0) / 1e9);
  for (int i = 0; i < NFOREVER; i++) {
    printf("grt_connect_tcp, timeout %lld: %zd\n", (long long)w[i].timeout, w[i].result);
    CHECK(w[i].result >= 0);
  }
  grt_wg_wait(&wg);
  atomic_store(&stop_accepting, 1);
  int last = grt_connect_tcp("127.0.0.1", port, 5 * SECOND);
  CHECK(last >= 0);
  grt_wg_wait(&acceptor_done);
  grt_close(last);
  for (int i = 0; i < NFOREVER; i++)
    grt_close((int)w[i].result);
  for (int i = 0; i < nqueued; i++)
    grt_close(queued[i]);
  grt_close(lfd);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int lfd = grt_listen_tcp("127.0.0.1", 0, 64);
  CHECK(lfd >= 0);
  check_read(lfd);
  check_write(lfd);
  grt_close(lfd);
  check_accept();
  check_connect();
  printf("net_timeout_extremes: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
