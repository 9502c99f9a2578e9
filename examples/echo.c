/*
 * echo - a TCP echo server on grt's netpoll: one goroutine per connection
 * sends back every byte it reads.  A connection idle for 60 s (no byte
 * read, or a peer that stops reading our echo) is closed.
 *
 *   ./echo [port | host:port]     default 127.0.0.1:7000; port 0 picks a free one
 *   printf hello | nc -q1 127.0.0.1 7000
 *
 * Prints one line when listening.  GRT_MAXPROCS sets the number of Ps, and
 * GRT_PPROF_ADDR=127.0.0.1:6060 serves /debug/pprof next to it (grt_main).
 * Go twin, for the benchmark (bench/echo.sh): bench/go/echo.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 7000
#define IDLE_NS (60LL * 1000 * 1000 * 1000)
#define BUF_BYTES 16384 /* on the connection's 64 KiB stack */

static void serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[BUF_BYTES];
  for (;;) {
    ssize_t n = grt_read(fd, buf, sizeof buf, IDLE_NS);
    if (n == 0) break; /* the peer closed */
    if (n < 0) {
      if (n != -ETIMEDOUT && n != -ECONNRESET)
        fprintf(stderr, "echo: read on fd %d: %s\n", fd, strerror((int)-n));
      break;
    }
    ssize_t w = grt_write(fd, buf, (size_t)n, IDLE_NS);
    if (w != n) {
      int err = w < 0 ? (int)-w : ETIMEDOUT; /* a short count: it timed out */
      if (err != ETIMEDOUT && err != ECONNRESET && err != EPIPE)
        fprintf(stderr, "echo: write on fd %d: %s\n", fd, strerror(err));
      break;
    }
  }
  grt_close(fd);
}

/* Splits "port", "host:port" or "[v6host]:port" into host (in buf) and port. */
static int parse_addr(const char *arg, char *host, size_t hostlen, int *port) {
  const char *colon = strrchr(arg, ':'), *p = arg;
  snprintf(host, hostlen, "%s", DEFAULT_HOST);
  if (colon) {
    const char *h = arg;
    size_t len = (size_t)(colon - arg);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') h++, len -= 2;
    if (len >= hostlen) return -1;
    memcpy(host, h, len);
    host[len] = '\0'; /* ":7000" means every address (AI_PASSIVE) */
    p = colon + 1;
  }
  char *end;
  errno = 0;
  long v = strtol(p, &end, 10);
  if (*p == '\0' || *end != '\0' || errno || v < 0 || v > 65535) return -1;
  *port = (int)v;
  return 0;
}

/* The port the listener got (for port 0), or -1. */
static int bound_port(int lfd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(lfd, (struct sockaddr *)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -1;
}

static int real_main(int argc, char **argv) {
  char host[256];
  int port = DEFAULT_PORT;
  if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
    fprintf(stderr, "usage: %s [port | host:port]   (default %s:%d)\n", argv[0], DEFAULT_HOST,
            DEFAULT_PORT);
    return 2;
  }
  snprintf(host, sizeof host, "%s", DEFAULT_HOST);
  if (argc == 2 && parse_addr(argv[1], host, sizeof host, &port) != 0) {
    fprintf(stderr, "echo: bad address '%s': want a port (0..65535) or host:port\n", argv[1]);
    return 2;
  }

  int lfd = grt_listen_tcp(host, port, 4096);
  if (lfd < 0) {
    fprintf(stderr, "echo: cannot listen on %s:%d: %s\n", *host ? host : "*", port, strerror(-lfd));
    return 1;
  }
  printf("echo: listening on %s:%d (%d Ps, idle timeout %llds)\n", *host ? host : "*",
         bound_port(lfd), grt_maxprocs(), IDLE_NS / 1000000000LL);
  fflush(stdout);

  for (;;) {
    int fd = grt_accept(lfd);
    if (fd >= 0) {
      if (grt_go(serve_conn, (void *)(intptr_t)fd) != 0) {
        fprintf(stderr, "echo: no goroutine for a new connection: closing it\n");
        grt_close(fd);
      }
      continue;
    }
    if (fd == -EPROTO || fd == -ENOPROTOOPT || fd == -EHOSTDOWN || fd == -ENONET ||
        fd == -EHOSTUNREACH || fd == -EOPNOTSUPP || fd == -ENETUNREACH || fd == -EPERM)
      continue; /* accept(2): an error pending on that connection, not the listener's */
    if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
      /* Out of fds or memory: as Go's http server does, wait and retry. */
      fprintf(stderr, "echo: accept: %s; retrying in 100 ms\n", strerror(-fd));
      grt_sleep(100 * 1000 * 1000);
      continue;
    }
    fprintf(stderr, "echo: accept: %s\n", strerror(-fd));
    return 1;
  }
}

int main(int argc, char **argv) {
  return grt_main(real_main, argc, argv);
}
