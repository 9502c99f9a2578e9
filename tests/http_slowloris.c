/*
 * http_slowloris: a slow client cannot lock the /debug/pprof server, and an
 * oversized query gets an answer.  Loopback only.
 *   - 200 connections each send a request line, then one header line a
 *     second, never finishing their request.  While all 200 are held, a
 *     legitimate GET /debug/pprof/goroutine?debug=1 is answered within 2 s
 *     (three times); the server closes every trickler after its request
 *     deadline (default 5 s: between 4 and 8 s after it connected), and the
 *     attack stops by itself after 10 s in any case;
 *   - a query of 500 and of 3,000 arguments gets 414 (or 400), not a
 *     dropped connection; the server answers normally afterwards;
 *   - in a child, GRT_PPROF_REQUEST_TIMEOUT=1 closes a trickler after about
 *     1 s, yet a 2 s CPU profile request is answered in full; a bad value
 *     is one stderr line.
 * Skipped in a grt built without the server (-DGRT_HTTP=OFF).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "testutil.h"

enum {
  NTRICKLE = 200,
  TRICKLE_EVERY_MS = 1000, /* well inside the server's 10 s idle timeout */
  ATTACK_MS = 10000,       /* the attack's bound, whatever the server does */
  LEGIT_MS = 2000,         /* a legitimate request must be answered in this */
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  close(fd);
  return ntohs(sa.sin_port);
}

/* Starts the server on a free loopback port; exits 77 without a server. */
static int serve(void) {
  for (int tries = 0; tries < 5; tries++) {
    int port = free_port();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int err = grt_pprof_serve(addr);
    if (err == -ENOTSUP) {
      printf("SKIP: grt built without the /debug/pprof server\n");
      exit(77);
    }
    if (err == 0) return port;
    CHECK(err == -EADDRINUSE);
  }
  CHECK(0);
  return 0;
}

static int port;

/* A blocking loopback connection whose reads give up after timeout_s. */
static int dial(int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct timeval tv = {.tv_sec = timeout_s};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  return fd;
}

static void *dial_thunk(void *unused) {
  (void)unused;
  return (void *)(intptr_t)dial(5);
}

/* ---- one whole request (run through grt_extcall: it blocks) ---- */

struct exchange {
  const char *req;
  size_t len;
  int timeout_s;
  int status; /* the reply's; 0: closed or timed out without one */
  int timed_out;
  char *reply;
  size_t reply_len;
  int64_t took_ms;
};

static void *exchange_run(void *arg) {
  struct exchange *x = arg;
  int64_t t0 = now_ms();
  int fd = dial(x->timeout_s);
  size_t off = 0;
  while (off < x->len) {
    ssize_t n = send(fd, x->req + off, x->len - off, MSG_NOSIGNAL);
    if (n <= 0) break; /* the server closed early: read what it said */
    off += (size_t)n;
  }
  size_t cap = 1 << 16;
  x->reply = malloc(cap);
  CHECK(x->reply);
  x->reply_len = 0;
  for (;;) {
    if (x->reply_len + 1 == cap) {
      cap *= 2;
      x->reply = realloc(x->reply, cap);
      CHECK(x->reply);
    }
    ssize_t n = recv(fd, x->reply + x->reply_len, cap - 1 - x->reply_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) x->timed_out = 1;
    if (n <= 0) break;
    x->reply_len += (size_t)n;
  }
  x->reply[x->reply_len] = 0;
  close(fd);
  x->took_ms = now_ms() - t0;
  sscanf(x->reply, "HTTP/1.%*d %d", &x->status);
  return NULL;
}

static void exchange(struct exchange *x, const char *req, int timeout_s) {
  free(x->reply);
  memset(x, 0, sizeof *x);
  x->req = req;
  x->len = strlen(req);
  x->timeout_s = timeout_s;
  grt_extcall(exchange_run, x);
}

static const char legit_req[] = "GET /debug/pprof/goroutine?debug=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Connection: close\r\n\r\n";

/* ---- the tricklers: a plain thread, not a goroutine ---- */

static struct {
  int fd[NTRICKLE];
  int64_t opened_ms[NTRICKLE];
  int64_t closed_ms[NTRICKLE]; /* 0 while open */
  atomic_int ready;            /* all connected, each with its request line sent */
  atomic_int open;             /* how many the server has not closed yet */
  int answered;                /* the server sent bytes to a trickler (it must not) */
} t;

static const char trickle_line[] = "GET /debug/pprof/goroutine?debug=1 HTTP/1.1\r\n";

static void trickler_closed(int i) {
  t.closed_ms[i] = now_ms();
  close(t.fd[i]);
  t.fd[i] = -1;
  atomic_fetch_sub(&t.open, 1);
}

static void *trickle(void *unused) {
  (void)unused;
  int64_t start = now_ms();
  for (int i = 0; i < NTRICKLE; i++) {
    t.fd[i] = dial(1);
    t.opened_ms[i] = now_ms();
    CHECK(send(t.fd[i], trickle_line, sizeof trickle_line - 1, MSG_NOSIGNAL) > 0);
    CHECK(fcntl(t.fd[i], F_SETFL, O_NONBLOCK) == 0);
  }
  atomic_store(&t.open, NTRICKLE);
  atomic_store(&t.ready, 1);
  printf("%d tricklers connected in %lld ms\n", NTRICKLE, (long long)(now_ms() - start));
  int64_t next_send = now_ms() + TRICKLE_EVERY_MS;
  int line = 0;
  while (atomic_load(&t.open) > 0 && now_ms() - start < ATTACK_MS) {
    struct pollfd pf[NTRICKLE];
    for (int i = 0; i < NTRICKLE; i++)
      pf[i] = (struct pollfd){.fd = t.fd[i], .events = POLLIN};
    int64_t wait = next_send - now_ms();
    if (poll(pf, NTRICKLE, wait < 0 ? 0 : wait > 100 ? 100 : (int)wait) < 0) {
      CHECK(errno == EINTR);
      continue;
    }
    for (int i = 0; i < NTRICKLE; i++) {
      if (t.fd[i] < 0 || !pf[i].revents) continue;
      char buf[512];
      ssize_t n = recv(t.fd[i], buf, sizeof buf, 0);
      if (n > 0) t.answered++;
      if (n >= 0 || errno == ECONNRESET || errno == EPIPE) trickler_closed(i);
    }
    if (now_ms() >= next_send) {
      char hdr[64];
      int len = snprintf(hdr, sizeof hdr, "X-Trickle-%d: x\r\n", line++);
      for (int i = 0; i < NTRICKLE; i++)
        if (t.fd[i] >= 0 && send(t.fd[i], hdr, (size_t)len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
          trickler_closed(i);
      next_send += TRICKLE_EVERY_MS;
    }
  }
  for (int i = 0; i < NTRICKLE; i++)
    if (t.fd[i] >= 0) close(t.fd[i]); /* still open: the test fails below */
  return NULL;
}

static void check_slowloris(void) {
  pthread_t th;
  CHECK(pthread_create(&th, NULL, trickle, NULL) == 0);
  while (!atomic_load(&t.ready))
    grt_sleep(10 * 1000 * 1000);
  grt_sleep(300 * 1000 * 1000); /* the server has read their request lines */
  struct exchange x = {0};
  for (int k = 0; k < 3; k++) {
    int held = atomic_load(&t.open);
    exchange(&x, legit_req, 3);
    printf("legitimate request %d with %d tricklers held: %d after %lld ms\n", k, held, x.status,
           (long long)x.took_ms);
    if (x.status != 200 || !strstr(x.reply, "goroutine profile: total") || x.took_ms > LEGIT_MS) {
      fprintf(stderr, "want 200 within %d ms, got %d after %lld ms%s:\n%.500s\n", LEGIT_MS,
              x.status, (long long)x.took_ms, x.timed_out ? " (timed out)" : "", x.reply);
      CHECK(0);
    }
    if (k == 0) CHECK(held == NTRICKLE); /* the attack was on */
    grt_sleep(1000 * 1000 * 1000);
  }
  free(x.reply);
  CHECK(join_thread(th) == 0);

  int64_t lo = INT64_MAX, hi = 0;
  int still_open = 0;
  for (int i = 0; i < NTRICKLE; i++) {
    if (!t.closed_ms[i]) {
      still_open++;
      continue;
    }
    int64_t held = t.closed_ms[i] - t.opened_ms[i];
    lo = held < lo ? held : lo;
    hi = held > hi ? held : hi;
  }
  printf("tricklers: %d still open after %d ms; closed after %lld..%lld ms; %d got bytes\n",
         still_open, ATTACK_MS, still_open == NTRICKLE ? 0LL : (long long)lo, (long long)hi,
         t.answered);
  CHECK(still_open == 0);
  CHECK(lo >= 4000 && hi <= 8000); /* the default 5 s request deadline */
  CHECK(t.answered == 0);          /* closed without a reply, as Go does */
}

/* ---- an oversized query ---- */

static void check_many_args(int nargs) {
  size_t cap = (size_t)nargs * 16 + 256;
  char *req = malloc(cap);
  CHECK(req);
  size_t len = (size_t)snprintf(req, cap, "GET /debug/pprof/goroutine?debug=1");
  for (int i = 0; i < nargs; i++)
    len += (size_t)snprintf(req + len, cap - len, "&a%d=%d", i, i);
  snprintf(req + len, cap - len, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  struct exchange x = {0};
  exchange(&x, req, 5);
  printf("query of %d arguments (%zu bytes): %d\n", nargs, len, x.status);
  if (x.status != 414 && x.status != 400) {
    fprintf(stderr, "want 414 or 400, got %d:\n%.500s\n", x.status, x.reply);
    CHECK(0);
  }
  free(x.reply);
  free(req);
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  port = serve();
  check_many_args(500);
  check_many_args(3000);
  struct exchange x = {0};
  exchange(&x, legit_req, 5);
  CHECK(x.status == 200);
  free(x.reply);
  check_slowloris();
  printf("ok\n");
  return 0;
}

/* ---- GRT_PPROF_REQUEST_TIMEOUT, in a child ---- */

static int timeout_main(int argc, char **argv) {
  (void)argc, (void)argv;
  port = serve();
  if (strcmp(getenv("GRT_PPROF_REQUEST_TIMEOUT"), "1") != 0) {
    printf("done\n");
    return 0;
  }
  /* One trickler, a header line every 200 ms: closed after about 1 s. */
  int fd = (int)(intptr_t)grt_extcall(dial_thunk, NULL);
  int64_t t0 = now_ms();
  CHECK(send(fd, trickle_line, sizeof trickle_line - 1, MSG_NOSIGNAL) > 0);
  int64_t took = -1;
  for (int i = 0; i < 25; i++) {
    grt_sleep(200 * 1000 * 1000);
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN) ||
        send(fd, "X-Slow: x\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
      took = now_ms() - t0;
      break;
    }
  }
  close(fd);
  printf("trickler closed after %lld ms\n", (long long)took);
  CHECK(took >= 800 && took <= 3000);
  /* A profile request outlives the deadline: it is answered, not cut. */
  struct exchange x = {0};
  exchange(&x,
           "GET /debug/pprof/profile?seconds=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
           10);
  char *body = strstr(x.reply, "\r\n\r\n");
  printf("2 s profile: %d after %lld ms\n", x.status, (long long)x.took_ms);
  CHECK(x.status == 200 && body && (unsigned char)body[4] == 0x1f &&
        (unsigned char)body[5] == 0x8b);
  free(x.reply);
  printf("done\n");
  return 0;
}

static void check_env(void) {
  static char out[4096], err[4096];
  const char *args[] = {"timeout", NULL};
  const char *env_one[] = {"GRT_PPROF_REQUEST_TIMEOUT=1", "GRT_PPROF_ADDR", NULL};
  int status = run_self(args, env_one, out, err, sizeof out);
  printf("GRT_PPROF_REQUEST_TIMEOUT=1: %s", out);
  if (status != 0 || !strstr(out, "done\n") || err[0])
    fprintf(stderr, "child status %#x\nstdout: %s\nstderr: %s\n", status, out, err);
  CHECK(status == 0 && strstr(out, "done\n") && !err[0]);

  const char *env_bad[] = {"GRT_PPROF_REQUEST_TIMEOUT=0", "GRT_PPROF_ADDR", NULL};
  status = run_self(args, env_bad, out, err, sizeof out);
  printf("GRT_PPROF_REQUEST_TIMEOUT=0: %s", err);
  CHECK(status == 0 && strcmp(out, "done\n") == 0);
  CHECK(strstr(err, "GRT_PPROF_REQUEST_TIMEOUT") && strchr(err, '\n') == err + strlen(err) - 1);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "timeout") == 0)
    return main_with_procs("2", timeout_main, argc, argv);
  /* The process holds both ends of every connection. */
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < 1024 && rl.rlim_max >= 1024) {
    rl.rlim_cur = 1024;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  if (rl.rlim_cur < 1024) {
    printf("SKIP: RLIMIT_NOFILE %llu is below 1024\n", (unsigned long long)rl.rlim_cur);
    return 77;
  }
  check_env();
  return main_with_procs("2", real_main, argc, argv);
}
