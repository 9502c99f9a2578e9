/*
 * echo_load: load generator for an echo server (examples/echo.c or its Go
 * twin bench/go/echo), driven by bench/echo.sh.
 * Usage: bench_echo_load host port [conns] [msg_bytes] [seconds], or: bench_echo_load port
 *        (defaults 127.0.0.1, -, 100, 64, 5; GRT_MAXPROCS default 2)
 * One goroutine per connection: all connect first, then, for `seconds`,
 * each writes a msg_bytes message, reads the whole echo back and checks
 * it, then sends the next (one request in flight per connection).  Prints
 * the connections' spread and "RESULT echo_rps <round trips / second>",
 * counting the round trips finished before the time was up.  Exits 1 if
 * a connection fails (connect, I/O error, 10 s without an echo, a wrong
 * byte).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IO_TIMEOUT_NS (10LL * 1000 * 1000 * 1000)

static const char *host = "127.0.0.1";
static int port = -1, nconns = 100;
static long msg_bytes = 64, seconds = 5;

static grt_wg connected, finished;
static grt_chan *start;        /* closed when the measured window opens */
static atomic_int stop;        /* set when it closes */
static atomic_int failed;      /* a connection failed */
static long *trips;            /* per connection, finished inside the window */
static atomic_int connect_err; /* the first connect error (-errno) */

static void conn(void *arg) {
  long id = (long)(intptr_t)arg;
  char *out = malloc((size_t)msg_bytes), *in = malloc((size_t)msg_bytes);
  int fd = grt_connect_tcp(host, port, IO_TIMEOUT_NS);
  if (fd < 0 || !out || !in) {
    int expected = 0;
    atomic_compare_exchange_strong(&connect_err, &expected, fd < 0 ? fd : -ENOMEM);
    atomic_store(&failed, 1);
  }
  grt_wg_done(&connected);
  char c;
  grt_chan_recv(start, &c); /* 0 once closed */
  long n = 0;
  for (long m = 0; fd >= 0 && out && in && !atomic_load_explicit(&failed, memory_order_relaxed);
       m++) {
    for (long i = 0; i < msg_bytes; i++)
      out[i] = (char)(id * 31 + m * 7 + i);
    ssize_t w = grt_write(fd, out, (size_t)msg_bytes, IO_TIMEOUT_NS);
    if (w != msg_bytes) {
      fprintf(stderr, "echo_load: conn %ld: write: %s\n", id,
              w < 0 ? strerror((int)-w) : "short write");
      atomic_store(&failed, 1);
      break;
    }
    long got = 0;
    while (got < msg_bytes) {
      ssize_t r = grt_read(fd, in + got, (size_t)(msg_bytes - got), IO_TIMEOUT_NS);
      if (r <= 0) {
        fprintf(stderr, "echo_load: conn %ld: read: %s\n", id,
                r < 0 ? strerror((int)-r) : "the server closed the connection");
        atomic_store(&failed, 1);
        break;
      }
      got += r;
    }
    if (got < msg_bytes) break;
    if (memcmp(in, out, (size_t)msg_bytes) != 0) {
      fprintf(stderr, "echo_load: conn %ld: the echo differs from the message\n", id);
      atomic_store(&failed, 1);
      break;
    }
    if (atomic_load_explicit(&stop, memory_order_relaxed)) break; /* finished too late */
    n++;
  }
  trips[id] = n;
  if (fd >= 0) grt_close(fd);
  free(out);
  free(in);
  grt_wg_done(&finished);
}

static int run(int argc, char **argv) {
  (void)argc, (void)argv;
  trips = calloc((size_t)nconns, sizeof *trips);
  start = grt_chan_make(1, 0);
  if (!trips || !start) {
    fprintf(stderr, "echo_load: out of memory\n");
    return 1;
  }
  grt_wg_add(&connected, nconns);
  grt_wg_add(&finished, nconns);
  for (int i = 0; i < nconns; i++)
    if (grt_go(conn, (void *)(intptr_t)i) != 0) {
      fprintf(stderr, "echo_load: grt_go failed\n");
      return 1;
    }
  grt_wg_wait(&connected);
  if (atomic_load(&failed)) {
    int e = -atomic_load(&connect_err);
    fprintf(stderr, "echo_load: cannot connect to %s:%d: %s\n", host, port, strerror(e));
    grt_chan_close(start);
    grt_wg_wait(&finished);
    return 1;
  }
  int64_t t0 = grt_nanotime();
  grt_chan_close(start);
  grt_sleep(seconds * 1000000000LL);
  atomic_store(&stop, 1);
  int64_t ns = grt_nanotime() - t0;
  grt_wg_wait(&finished);
  if (atomic_load(&failed)) return 1;

  long total = 0, lo = trips[0], hi = trips[0];
  for (int i = 0; i < nconns; i++) {
    total += trips[i];
    if (trips[i] < lo) lo = trips[i];
    if (trips[i] > hi) hi = trips[i];
  }
  double secs = (double)ns / 1e9;
  printf("echo_load: %s:%d, %d connections x %ld-byte messages, %.2f s: %ld round trips "
         "(per connection: min %ld, max %ld); %.1f us per round trip per connection\n",
         host, port, nconns, msg_bytes, secs, total, lo, hi,
         total ? secs * 1e6 * nconns / (double)total : 0.0);
  printf("RESULT echo_rps %.0f\n", (double)total / secs);
  return 0;
}

static long arg_long(const char *s, long min, long max, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno || v < min || v > max) {
    fprintf(stderr, "echo_load: %s must be a whole number in %ld..%ld, not '%s'\n", what, min, max,
            s);
    fprintf(stderr, "usage: bench_echo_load host port [conns] [msg_bytes] [seconds]\n");
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  /* "port" alone, or "host port ..." (host first, as echo.sh passes them). */
  int a = 1;
  if (argc < 2 || argc > 6) {
    fprintf(stderr,
            "usage: %s host port [conns] [msg_bytes] [seconds]   or   %s port\n"
            "       (defaults 127.0.0.1, -, 100, 64, 5)\n",
            argv[0], argv[0]);
    return 2;
  }
  if (argc > 2) host = argv[a++];
  port = (int)arg_long(argv[a++], 1, 65535, "port");
  if (a < argc) nconns = (int)arg_long(argv[a++], 1, 100000, "conns");
  if (a < argc) msg_bytes = arg_long(argv[a++], 1, 1 << 20, "msg_bytes");
  if (a < argc) seconds = arg_long(argv[a++], 1, 3600, "seconds");
  setenv("GRT_MAXPROCS", "2", 0); /* unless set */
  return grt_main(run, argc, argv);
}
