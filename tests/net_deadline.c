/*
 * net_deadline: timeouts and close on netpoll.
 *   - grt_read on a connection where nothing arrives returns -ETIMEDOUT
 *     after its timeout, not before (checked), and the connection still
 *     works afterwards;
 *   - grt_write to a peer that never reads fills the socket buffers, then
 *     returns -ETIMEDOUT (or the count written before it, if some went);
 *   - grt_connect_tcp to a port nobody listens on fails (-ECONNREFUSED);
 *   - a goroutine parked in grt_read (no timeout) and one parked in
 *     grt_accept are woken with -EBADF when another goroutine closes the fd;
 *     neither hangs;
 *   - with a timeout of 0, grt_read only looks: -ETIMEDOUT at once.
 * Each wait is also checked not to have blocked its thread: a ticker
 * goroutine keeps running on the single P meanwhile.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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

static int listen_port(int lfd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  return ntohs(sa.sin_port);
}

struct pair {
  int lfd, client, server;
};

static void accept_one(void *arg) {
  struct pair *p = arg;
  p->server = grt_accept(p->lfd);
  CHECK(p->server >= 0);
  grt_wg_done(&wg);
}

static void make_pair(struct pair *p) {
  p->lfd = grt_listen_tcp("127.0.0.1", 0, 16);
  CHECK(p->lfd >= 0);
  grt_wg_add(&wg, 1);
  CHECK(grt_go(accept_one, p) == 0);
  p->client = grt_connect_tcp("127.0.0.1", listen_port(p->lfd), 5000000000LL);
  CHECK(p->client >= 0);
  grt_wg_wait(&wg);
}

static int blocked_result;
static void read_until_closed(void *arg) {
  char c;
  blocked_result = (int)grt_read((int)(intptr_t)arg, &c, 1, -1);
  grt_wg_done(&wg);
}
static int accept_result;
static void accept_until_closed(void *arg) {
  accept_result = grt_accept((int)(intptr_t)arg);
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&ticker_done, 1);
  CHECK(grt_go(ticker, NULL) == 0);
  struct pair p;
  make_pair(&p);

  /* Read timeout: not early, and the thread was free meanwhile. */
  char buf[64];
  long t0 = atomic_load(&ticks);
  int64_t start = grt_nanotime();
  CHECK(grt_read(p.client, buf, sizeof buf, 50000000) == -ETIMEDOUT);
  CHECK(grt_nanotime() - start >= 50000000);
  CHECK(atomic_load(&ticks) > t0);
  CHECK(grt_read(p.client, buf, sizeof buf, 0) == -ETIMEDOUT);
  CHECK(grt_write(p.server, "hi", 2, -1) == 2);
  CHECK(grt_read(p.client, buf, sizeof buf, 1000000000LL) == 2);
  CHECK(memcmp(buf, "hi", 2) == 0);

  /* Write timeout: the peer never reads. */
  static char big[1 << 16];
  ssize_t w;
  start = grt_nanotime();
  long sent = 0;
  while ((w = grt_write(p.client, big, sizeof big, 100000000)) == (ssize_t)sizeof big)
    sent += w;
  CHECK(w == -ETIMEDOUT || (w >= 0 && w < (ssize_t)sizeof big));
  printf("write timed out after %ld bytes queued\n", sent + (w > 0 ? w : 0));

  /* Refused connect. */
  int spare = grt_listen_tcp("127.0.0.1", 0, 1);
  CHECK(spare >= 0);
  int dead_port = listen_port(spare);
  CHECK(grt_close(spare) == 0);
  CHECK(grt_connect_tcp("127.0.0.1", dead_port, 1000000000LL) == -ECONNREFUSED);

  /* Close wakes waiters with -EBADF. */
  struct pair q;
  make_pair(&q);
  grt_wg_add(&wg, 2);
  CHECK(grt_go(read_until_closed, (void *)(intptr_t)q.client) == 0);
  int lfd2 = grt_listen_tcp("127.0.0.1", 0, 16);
  CHECK(lfd2 >= 0);
  CHECK(grt_go(accept_until_closed, (void *)(intptr_t)lfd2) == 0);
  grt_sleep(20000000); /* both parked by now */
  CHECK(grt_close(q.client) == 0);
  CHECK(grt_close(lfd2) == 0);
  grt_wg_wait(&wg);
  CHECK(blocked_result == -EBADF);
  CHECK(accept_result == -EBADF);

  atomic_store(&stop, 1);
  grt_wg_wait(&ticker_done);
  grt_close(p.client);
  grt_close(p.server);
  grt_close(p.lfd);
  grt_close(q.server);
  grt_close(q.lfd);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
