/*
 * httpclient.h - a plain blocking HTTP/1.1 client for the /debug/pprof
 * tests (http_pprof, http_profiles), run through grt_extcall so a blocking
 * socket never holds a P:
 *   port               the server's port (set by the test)
 *   get(x, path)       GET path, the reply in x; returns the status
 *   expect(x, path, status, body_has)   GET and check
 *   expect_rejected(what, req, len)     raw bytes: 4xx, 505 or a close
 *   pprof_url(path)    `go tool pprof -raw` of the server's path
 *   free_port()        a loopback port nobody listens on
 * Include after <grt.h>, testutil.h and pprof_raw.h.
 */
#ifndef GRT_TESTS_HTTPCLIENT_H
#define GRT_TESTS_HTTPCLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int port;

static inline int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct timeval tv = {.tv_sec = 30};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  return fd;
}

static inline void *dial_thunk(void *unused) {
  (void)unused;
  return (void *)(intptr_t)dial();
}

struct exchange {
  const char *req;
  size_t len;
  int status; /* the reply's, 0 if the server closed without one */
  char *reply;
  size_t reply_len;
  const char *body; /* inside reply */
  size_t body_len;
};

/* Sends req (as much as the server takes) and reads the reply until the
 * server closes. */
static inline void *exchange_run(void *arg) {
  struct exchange *x = arg;
  int fd = dial();
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
    if (n <= 0) {
      CHECK(n == 0 || errno == ECONNRESET); /* not a timeout */
      break;
    }
    x->reply_len += (size_t)n;
  }
  x->reply[x->reply_len] = 0;
  close(fd);
  x->status = 0;
  sscanf(x->reply, "HTTP/1.%*d %d", &x->status);
  char *end = memmem(x->reply, x->reply_len, "\r\n\r\n", 4);
  x->body = end ? end + 4 : x->reply + x->reply_len;
  x->body_len = (size_t)(x->reply + x->reply_len - x->body);
  return NULL;
}

static inline void exchange(struct exchange *x, const char *req, size_t len) {
  free(x->reply);
  memset(x, 0, sizeof *x);
  x->req = req;
  x->len = len;
  grt_extcall(exchange_run, x);
}

static char req_buf[1024];

/* GET path; returns the status. */
static inline int get(struct exchange *x, const char *path) {
  snprintf(req_buf, sizeof req_buf,
           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  exchange(x, req_buf, strlen(req_buf));
  return x->status;
}

static inline void expect(struct exchange *x, const char *path, int status, const char *body_has) {
  int got = get(x, path);
  if (got != status || (body_has && !strstr(x->body, body_has))) {
    fprintf(stderr, "GET %s: want %d with \"%s\", got:\n%.2000s\n", path, status,
            body_has ? body_has : "", x->reply);
    CHECK(0);
  }
}

/* Raw bytes: the server answers 4xx (or 505) or closes without answering. */
static inline void expect_rejected(const char *what, const char *req, size_t len) {
  struct exchange x = {0};
  exchange(&x, req, len);
  /* 505 is the right answer to an unknown HTTP version */
  if (x.status != 0 && (x.status < 400 || x.status > 499) && x.status != 505) {
    fprintf(stderr, "%s: want 4xx or a close, got:\n%.2000s\n", what, x.reply);
    CHECK(0);
  }
  printf("%s: %d\n", what, x.status);
  free(x.reply);
}

/* ---- go tool pprof on a URL ---- */

struct pprof_call {
  const char *url;
  char *out;
};

static inline void *pprof_call_run(void *arg) {
  struct pprof_call *c = arg;
  c->out = pprof_run("-raw", c->url);
  return NULL;
}

/* `go tool pprof -raw` of the server's path, its output malloc'd. */
static inline char *pprof_url(const char *path) {
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  struct pprof_call c = {.url = url};
  grt_extcall(pprof_call_run, &c);
  return c.out;
}

/* ---- the checks ---- */

static inline int free_port(void) {
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

#endif
