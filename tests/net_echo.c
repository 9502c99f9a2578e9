/*
 * net_echo: a TCP echo server on netpoll serves 1,000 concurrent
 * connections on 2 Ps.  Each client goroutine connects, then sends 20
 * messages of 64 bytes and reads each echo back before the next; every
 * byte must come back in order.  1,000 goroutines blocked in grt_read must
 * not need 1,000 threads: the thread count stays small (checked).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "testutil.h"

#define CLIENTS ASAN_SCALED(1000, 300)
#define MESSAGES 20
#define MSG 64

static int port;
static grt_wg clients_done;
static _Atomic int echoed;

static void serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  for (;;) {
    ssize_t n = grt_read(fd, buf, sizeof buf, -1);
    if (n <= 0) break;
    CHECK(grt_write(fd, buf, (size_t)n, -1) == n);
  }
  grt_close(fd);
}

static void acceptor(void *arg) {
  int lfd = (int)(intptr_t)arg;
  for (;;) {
    int fd = grt_accept(lfd);
    if (fd == -EBADF) return; /* listener closed */
    CHECK(fd >= 0);
    CHECK(grt_go(serve_conn, (void *)(intptr_t)fd) == 0);
  }
}

static void client(void *arg) {
  int id = (int)(intptr_t)arg;
  int fd = grt_connect_tcp("127.0.0.1", port, 10000000000LL);
  if (fd < 0) fprintf(stderr, "client %d: connect: %s\n", id, strerror(-fd));
  CHECK(fd >= 0);
  for (int m = 0; m < MESSAGES; m++) {
    char out[MSG], in[MSG];
    for (int i = 0; i < MSG; i++)
      out[i] = (char)(id * 31 + m * 7 + i);
    CHECK(grt_write(fd, out, MSG, -1) == MSG);
    size_t got = 0;
    while (got < MSG) {
      ssize_t n = grt_read(fd, in + got, MSG - got, -1);
      CHECK(n > 0);
      got += (size_t)n;
    }
    CHECK(memcmp(in, out, MSG) == 0);
    atomic_fetch_add(&echoed, 1);
  }
  CHECK(grt_close(fd) == 0);
  grt_wg_done(&clients_done);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  int lfd = grt_listen_tcp("127.0.0.1", 0, 4096);
  CHECK(lfd >= 0);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(getsockname(lfd, (struct sockaddr *)&ss, &len) == 0);
  port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  CHECK(grt_go(acceptor, (void *)(intptr_t)lfd) == 0);
  grt_wg_add(&clients_done, CLIENTS);
  for (int i = 0; i < CLIENTS; i++)
    CHECK(grt_go(client, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&clients_done);
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("%d clients x %d messages echoed; %llu threads (Ms) for %d connections\n", CLIENTS,
         MESSAGES, (unsigned long long)st.threads, CLIENTS);
  CHECK(atomic_load(&echoed) == CLIENTS * MESSAGES);
  CHECK(st.threads < 16);
  CHECK(grt_close(lfd) == 0);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
