/*
 * http.c - grt_pprof_serve: Go's net/http/pprof endpoints over GNU
 * libmicrohttpd, so `go tool pprof http://host:port/debug/pprof/profile`
 * works against a grt program.
 *
 *   /debug/pprof/                  an index
 *   /debug/pprof/profile           ?seconds=N (1..3600, 30) &hz=H (1..10000, 100)
 *   /debug/pprof/goroutine         ?debug=0|1|2 (0: gzipped pprof)
 *   /debug/pprof/block, /mutex     ?seconds=N (0..3600, 0: everything so far;
 *                                  N: what happens in the next N seconds)
 *                                  &rate=R (the block rate in ns or the mutex
 *                                  fraction for those seconds; default: as set,
 *                                  or 1 if off) &debug=0
 *   /debug/pprof/wall              ?seconds=N (1..3600, 30) &hz=H (1..1000, 100)
 *
 * Invariants:
 *  - The server's threads are libmicrohttpd's, foreign to grt: one thread
 *    per connection (a profile request sleeps for its whole duration and
 *    must not hold up the others), all started with every signal blocked,
 *    so they never take the program's signals (SIGQUIT, SIGPIPE on a
 *    client that went away) and never run the profiler's handler.
 *  - They only call what works from any thread: cpuprof_start/stop
 *    (grt_prof_start/stop without the misuse line), goroutines_write,
 *    blockprof_* and wallprof_start/stop.
 *    Profiles go through a memfd, then a buffer, so nothing touches the
 *    client's socket before the profile is whole.
 *  - Bad input never reaches the runtime: query values are checked in full
 *    (400), unknown paths get 404, other methods 405, a query of more than
 *    HTTP_MAX_ARGS arguments 414, and libmicrohttpd's limits (memory per
 *    connection, idle timeout) answer or close oversized, garbled or stalled
 *    requests while the server goes on.
 *  - A slow client cannot hold the server: each connection must deliver its
 *    whole request (line, headers, any body) within the request deadline
 *    (GRT_PPROF_REQUEST_TIMEOUT seconds, default 5) of connecting or of its
 *    previous reply, however it trickles; libmicrohttpd's own timeout counts
 *    only idle time.  http_conn records every connection from accept to
 *    close, in deadline order while it is receiving; the sweeper thread
 *    shuts down the socket of one past its deadline, which makes its thread
 *    see end of stream and close it, without a reply (as Go's server).  A
 *    request being answered (a 30 s profile) has no deadline.  The
 *    connection limit is half the process's RLIMIT_NOFILE (32..4096), since
 *    each connection is one fd and one thread.
 *  - One server per process (http.daemon, under http.lock), never stopped:
 *    like Go's, it lives as long as the program.
 */
#define _GNU_SOURCE
#include "top/top.h"

#include "base/env.h"
#include "base/lock.h"
#include "base/warn.h"
#include "grt.h"
#include "runtime/runtime.h"

#include "pprof/cpuprof.h"
#include "pprof/blockprof.h"
#include "pprof/goroutines.h"
#include "pprof/wallprof.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_ADDR "127.0.0.1:6060"

enum {
  /* Idle or stalled connections are dropped after this (a profile request
   * lifts it while it sleeps): short, since each holds a thread. */
  HTTP_TIMEOUT_S = 10,
  /* The whole request must arrive within this (GRT_PPROF_REQUEST_TIMEOUT),
   * counted from the connection's accept or its previous reply. */
  HTTP_DEFAULT_REQUEST_TIMEOUT_S = 5,
  HTTP_MAX_REQUEST_TIMEOUT_S = 3600,
  /* Per connection; the request line and headers must fit, so this is
   * also what turns a 100 KB path into a 414. */
  HTTP_MEMORY_LIMIT = 32 * 1024,
  /* Each query argument takes a record from that memory, and
   * libmicrohttpd 0.9.75 drops the connection without a reply when they
   * do not fit (about 450): more than this many is a 414 instead. */
  HTTP_MAX_ARGS = 64,
  /* Connections: half of RLIMIT_NOFILE, within these bounds. */
  HTTP_MIN_CONNECTIONS = 32,
  HTTP_MAX_CONNECTIONS = 4096,
  HTTP_DEFAULT_SECONDS = 30,
  HTTP_MAX_SECONDS = 3600,
  HTTP_DEFAULT_HZ = 100,
  HTTP_MAX_HZ = 10000,
};

static struct {
  pthread_mutex_t lock;
  struct MHD_Daemon *daemon;
  char addr[300]; /* what it serves, for the -EBUSY message */
} http = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the request deadline ---- */

/*
 * One connection, from libmicrohttpd's STARTED notification to its CLOSED
 * one (its socket context).  libmicrohttpd closes the socket only after
 * CLOSED, so while a record exists under http_conns.lock its fd is this
 * connection's, and the sweeper may shut it down.
 */
struct http_conn {
  struct http_conn *prev, *next; /* in http_conns' list while receiving */
  int fd;
  bool receiving;   /* in the list: its deadline runs */
  int64_t deadline; /* nanotime() by which its request must be in */
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake; /* the list went from empty to not */
  /* Receiving connections, earliest deadline first: every deadline is
   * now + timeout, so appending keeps the order. */
  struct http_conn *head, *tail;
  int64_t timeout_ns; /* the request deadline, set before the daemon starts */
  bool sweeper_started;
} http_conns = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* http_conns.lock held. */
static void http_conn_unlink(struct http_conn *hc) {
  if (!hc->receiving) return;
  if (hc->prev)
    hc->prev->next = hc->next;
  else
    http_conns.head = hc->next;
  if (hc->next)
    hc->next->prev = hc->prev;
  else
    http_conns.tail = hc->prev;
  hc->prev = hc->next = NULL;
  hc->receiving = false;
}

/* Its deadline starts now (http_conns.lock held). */
static void http_conn_receiving(struct http_conn *hc) {
  http_conn_unlink(hc);
  hc->deadline = nanotime() + http_conns.timeout_ns;
  hc->receiving = true;
  hc->prev = http_conns.tail;
  if (http_conns.tail)
    http_conns.tail->next = hc;
  else {
    http_conns.head = hc;
    pthread_cond_signal(&http_conns.wake); /* it may wait with no deadline */
  }
  http_conns.tail = hc;
}

/* The sweeper: shuts down every connection past its request deadline. */
static void *http_sweeper(void *unused) {
  (void)unused;
  pthread_mutex_lock(&http_conns.lock);
  for (;;) {
    int64_t now = nanotime();
    while (http_conns.head && http_conns.head->deadline <= now) {
      struct http_conn *hc = http_conns.head;
      http_conn_unlink(hc);
      shutdown(hc->fd, SHUT_RDWR); /* its thread reads end of stream and closes */
    }
    if (!http_conns.head) {
      pthread_cond_wait(&http_conns.wake, &http_conns.lock);
      continue;
    }
    int64_t at = http_conns.head->deadline;
    struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
    pthread_cond_timedwait(&http_conns.wake, &http_conns.lock, &ts);
  }
  return NULL;
}

/* Started once, before the daemon (the caller has blocked every signal). */
static int http_sweeper_start(int64_t timeout_ns) {
  pthread_mutex_lock(&http_conns.lock);
  http_conns.timeout_ns = timeout_ns;
  int err = 0;
  if (!http_conns.sweeper_started) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* nanotime's clock */
    pthread_cond_init(&http_conns.wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    err = -pthread_create(&t, &ta, http_sweeper, NULL);
    pthread_attr_destroy(&ta);
    if (!err) {
      pthread_setname_np(t, "grt-http-sweep");
      http_conns.sweeper_started = true;
    }
  }
  pthread_mutex_unlock(&http_conns.lock);
  return err;
}

/* libmicrohttpd: a connection was accepted (STARTED) or is about to have
 * its socket closed (CLOSED). */
static void http_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                   enum MHD_ConnectionNotificationCode toe) {
  (void)cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct http_conn *hc = calloc(1, sizeof *hc);
    *socket_context = hc;
    if (!ci) return; /* cannot happen: every connection has its fd */
    if (!hc) {
      shutdown(ci->connect_fd, SHUT_RDWR); /* no deadline without a record: drop it */
      return;
    }
    hc->fd = ci->connect_fd;
    pthread_mutex_lock(&http_conns.lock);
    http_conn_receiving(hc);
    pthread_mutex_unlock(&http_conns.lock);
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    struct http_conn *hc = *socket_context;
    if (!hc) return;
    pthread_mutex_lock(&http_conns.lock);
    http_conn_unlink(hc);
    pthread_mutex_unlock(&http_conns.lock);
    free(hc);
    *socket_context = NULL;
  }
}

static struct http_conn *http_conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* The whole request is in: no deadline while it is answered. */
static void http_request_in(struct MHD_Connection *c) {
  struct http_conn *hc = http_conn_of(c);
  if (!hc) return;
  pthread_mutex_lock(&http_conns.lock);
  http_conn_unlink(hc);
  pthread_mutex_unlock(&http_conns.lock);
}

/* libmicrohttpd: a request is done (answered, or failed); on a kept-alive
 * connection the next one's deadline starts now. */
static void http_request_done(void *cls, struct MHD_Connection *c, void **req_cls,
                              enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)req_cls, (void)toe;
  struct http_conn *hc = http_conn_of(c);
  if (!hc) return;
  pthread_mutex_lock(&http_conns.lock);
  http_conn_receiving(hc);
  pthread_mutex_unlock(&http_conns.lock);
}

/* ---- the query's size ---- */

/* The request's identity for libmicrohttpd's two-call protocol (first
 * call: *req_cls is NULL) and a request whose query was too big. */
static int http_seen, http_too_many_args;

/*
 * libmicrohttpd's URI callback, called with the request line's target
 * ("path?query") before it parses the query into one record per argument
 * in place, in the connection's read buffer.  Records that do not fit in
 * the connection's memory make 0.9.75 drop the connection with no reply,
 * so a query of more than HTTP_MAX_ARGS arguments is cut off here, before
 * that parse (the buffer is libmicrohttpd's but writable: it writes the
 * '?' to NUL itself next), and the handler answers 414.
 */
static void *http_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls, (void)c;
  char *q = strchr(uri, '?');
  if (!q) return NULL;
  int args = 1;
  for (const char *p = q + 1; *p; p++)
    args += *p == '&';
  if (args <= HTTP_MAX_ARGS) return NULL;
  q[1] = 0;
  return &http_too_many_args;
}

/* ---- responses ---- */

/* Queues a response with body (len bytes; freed by libmicrohttpd when owned
 * is MHD_RESPMEM_MUST_FREE) and the headers Go's handlers send. */
static enum MHD_Result http_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                  const char *attachment, void *body, size_t len,
                                  enum MHD_ResponseMemoryMode owned) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, owned);
  if (!r) {
    if (owned == MHD_RESPMEM_MUST_FREE) free(body);
    return MHD_NO; /* closes the connection */
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (attachment) {
    char disp[64];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", attachment);
    MHD_add_response_header(r, "Content-Disposition", disp);
  }
  /* go tool pprof shows the body of an error that carries this header. */
  if (status >= 400) MHD_add_response_header(r, "X-Go-Pprof", "1");
  if (status == MHD_HTTP_MOVED_PERMANENTLY)
    MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/debug/pprof/");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A plain-text error, as Go's serveError: the message and a newline. */
static enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (n < 0) return MHD_NO;
  return http_reply(c, status, "text/plain; charset=utf-8", NULL, msg, (size_t)n,
                    MHD_RESPMEM_MUST_FREE);
}

/* Sends what fd (a memfd just written) holds, then closes fd. */
static enum MHD_Result http_reply_fd(struct MHD_Connection *c, int fd, const char *type,
                                     const char *attachment) {
  struct stat st;
  char *buf = NULL;
  size_t len = 0;
  int err = fstat(fd, &st) == 0 ? 0 : errno;
  if (!err) {
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) err = ENOMEM;
  }
  while (!err && len < (size_t)st.st_size) {
    ssize_t n = pread(fd, buf + len, (size_t)st.st_size - len, (off_t)len);
    if (n > 0)
      len += (size_t)n;
    else if (n == 0)
      break; /* cannot shrink, but never loop */
    else if (errno != EINTR)
      err = errno;
  }
  close(fd);
  if (err) {
    free(buf);
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not read the profile back: %s",
                      strerror(err));
  }
  return http_reply(c, MHD_HTTP_OK, type, attachment, buf, len, MHD_RESPMEM_MUST_FREE);
}

/* ---- query values ---- */

/*
 * The query value key as a whole number in lo..hi: *v = dflt when absent or
 * empty (as Go's FormValue gives ""), else it must be digits (with an
 * optional sign) and nothing else.  false after queuing a 400.
 */
static bool http_int_arg(struct MHD_Connection *c, const char *key, long lo, long hi, long dflt,
                         long *v, enum MHD_Result *res) {
  const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
  *v = dflt;
  if (!s || !*s) return true;
  if (env_parse_int(s, lo, hi, v)) return true;
  *res = http_error(c, MHD_HTTP_BAD_REQUEST, "Bad %s=\"%.64s%s\": want a whole number in %ld..%ld",
                    key, s, strlen(s) > 64 ? "..." : "", lo, hi);
  return false;
}

/* ---- endpoints ---- */

static const char http_index[] =
    "<html>\n<head><title>/debug/pprof/</title></head>\n<body>\n/debug/pprof/<br>\n"
    "<p>Set debug=1 as a query parameter to export in legacy text format</p>\n"
    "Types of profiles available:\n<table>\n"
    "<tr><td><a href=\"goroutine?debug=1\">goroutine</a></td>"
    "<td>Stack traces of all current goroutines. Use debug=2 as a query parameter to export "
    "in the same format as an unrecovered panic.</td></tr>\n"
    "<tr><td><a href=\"profile\">profile</a></td>"
    "<td>CPU profile. You can specify the duration in the seconds GET parameter (default 30) "
    "and the rate in hz (default 100). After you get the profile file, use the go tool pprof "
    "command to investigate the profile.</td></tr>\n"
    "<tr><td><a href=\"block\">block</a></td>"
    "<td>Stack traces that led to blocking on synchronization primitives and I/O. With "
    "seconds=N, what blocks in the next N seconds (rate=R ns sets the sampling rate for them)."
    "</td></tr>\n"
    "<tr><td><a href=\"mutex\">mutex</a></td>"
    "<td>Stack traces of holders of contended mutexes. With seconds=N, the next N seconds "
    "(rate=R: one handoff in R).</td></tr>\n"
    "<tr><td><a href=\"wall?seconds=5\">wall</a></td>"
    "<td>Goroutine wall-clock profile: every goroutine's stack and state (label state), hz times "
    "a second (default 100) for seconds (default 30).</td></tr>\n"
    "</table>\n</body>\n</html>\n";

/*
 * Waits `seconds`, or less if the client goes away (hangs up or shuts down
 * its side, as Go's handler notices through the request's context): then
 * false.  The socket is polled for hang-up only, so a pipelined request
 * does not wake it.
 */
static bool http_client_waits(struct MHD_Connection *c, long seconds) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct timespec now, end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += seconds;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left_ms =
        (int64_t)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
    if (left_ms <= 0) return true;
    if (!ci) {
      struct timespec ts = {.tv_sec = left_ms / 1000, .tv_nsec = (left_ms % 1000) * 1000000};
      nanosleep(&ts, NULL);
      continue;
    }
    struct pollfd pf = {.fd = ci->connect_fd, .events = POLLRDHUP};
    int n = poll(&pf, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
    if (n > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) return false;
  }
}

/* A profile taken for the request (CPU, wall): started on a memfd, the
 * request's seconds waited out (or the client goes away), stopped, sent.
 * what: "CPU" or "wall", in Go's words for the CPU one, which clients and
 * people search for. */
struct timed_profile {
  const char *what, *name, *busy;
  long max_hz;
  int (*start)(const grt_prof_config *cfg);
  int (*stop)(void);
};

static enum MHD_Result http_timed(struct MHD_Connection *c, const struct timed_profile *t) {
  long seconds, hz;
  enum MHD_Result res = MHD_NO;
  if (!http_int_arg(c, "seconds", 1, HTTP_MAX_SECONDS, HTTP_DEFAULT_SECONDS, &seconds, &res) ||
      !http_int_arg(c, "hz", 1, t->max_hz, HTTP_DEFAULT_HZ, &hz, &res))
    return res;
  int fd = memfd_create("grt-pprof-profile", MFD_CLOEXEC);
  if (fd < 0)
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not enable %s profiling: %s",
                      t->what, strerror(errno));
  int err = t->start(&(grt_prof_config){.fd = fd, .hz = (int)hz});
  if (err) {
    close(fd);
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not enable %s profiling: %s",
                      t->what, err == -EBUSY ? t->busy : strerror(-err));
  }
  /* The connection is busy, not idle: no timeout while it sleeps.  Setting
   * one again afterwards restarts its clock (it was 0). */
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
  bool waiting = http_client_waits(c, seconds);
  err = t->stop();
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S);
  if (!waiting) {
    close(fd);
    return MHD_NO;
  }
  if (err) {
    close(fd);
    /* -EINVAL: the program stopped the profile itself. */
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not write the %s profile: %s",
                      t->what,
                      err == -EINVAL ? "profiling was stopped by the program" : strerror(-err));
  }
  return http_reply_fd(c, fd, "application/octet-stream", t->name);
}

static const struct timed_profile http_cpu = {
    "CPU", "profile", "cpu profiling already in use", HTTP_MAX_HZ, cpuprof_start, cpuprof_stop};
static const struct timed_profile http_wallprof = {
    "wall", "wall", "wall profiling already in use", 1000, wallprof_start, wallprof_stop};

static enum MHD_Result http_goroutine(struct MHD_Connection *c) {
  long debug;
  enum MHD_Result res = MHD_NO;
  if (!http_int_arg(c, "debug", 0, 2, 0, &debug, &res)) return res;
  int fd = memfd_create("grt-pprof-goroutine", MFD_CLOEXEC);
  if (fd < 0)
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not write goroutine profile: %s",
                      strerror(errno));
  int err = goroutines_write(fd, (int)debug);
  if (err) {
    close(fd);
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not write goroutine profile: %s",
                      strerror(-err));
  }
  if (debug == 0) return http_reply_fd(c, fd, "application/octet-stream", "goroutine");
  return http_reply_fd(c, fd, "text/plain; charset=utf-8", NULL);
}

/* /debug/pprof/block and /mutex. */
static enum MHD_Result http_contention(struct MHD_Connection *c, enum blockprof_which which,
                                       const char *name) {
  long debug, seconds, rate;
  enum MHD_Result res = MHD_NO;
  int64_t was = blockprof_rate(which);
  if (!http_int_arg(c, "debug", 0, 0, 0, &debug, &res) ||
      !http_int_arg(c, "seconds", 0, HTTP_MAX_SECONDS, 0, &seconds, &res) ||
      !http_int_arg(c, "rate", 1, which == BLOCKPROF_MUTEX ? INT_MAX : 1L << 40,
                    was > 0 ? (long)was : 1, &rate, &res))
    return res;
  int fd = memfd_create("grt-pprof-contention", MFD_CLOEXEC);
  if (fd < 0)
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not write the %s profile: %s", name,
                      strerror(errno));
  int err;
  if (seconds == 0) {
    err = blockprof_write(which, NULL, fd);
  } else {
    struct blockprof_mark m;
    err = blockprof_mark(which, &m);
    if (!err) {
      if (rate != was) blockprof_set_rate(which, rate);
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
      bool waiting = http_client_waits(c, seconds);
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S);
      if (rate != was) blockprof_set_rate(which, was);
      err = waiting ? blockprof_write(which, &m, fd) : -ECONNRESET;
      blockprof_mark_free(&m);
      if (!waiting) {
        close(fd);
        return MHD_NO;
      }
    }
  }
  if (err) {
    close(fd);
    return http_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not write the %s profile: %s", name,
                      strerror(-err));
  }
  return http_reply_fd(c, fd, "application/octet-stream", name);
}

/* The first call sees the headers, the last one (no more body) answers. */
static enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls) {
  (void)cls, (void)version, (void)upload_data;
  if (*req_cls == &http_too_many_args)
    return http_error(c, MHD_HTTP_URI_TOO_LONG,
                      "Request-URI Too Long: more than %d query arguments", HTTP_MAX_ARGS);
  bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  if (!get)
    return http_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method %.32s not allowed: use GET", method);
  if (!*req_cls) {
    *req_cls = &http_seen;
    return MHD_YES;
  }
  if (*upload_data_size) { /* a GET with a body: ignore it */
    *upload_data_size = 0;
    return MHD_YES;
  }
  http_request_in(c);
  if (strcmp(url, "/debug/pprof") == 0)
    return http_reply(c, MHD_HTTP_MOVED_PERMANENTLY, "text/plain; charset=utf-8", NULL,
                      (void *)"Moved Permanently\n", 18, MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/debug/pprof/") == 0)
    return http_reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", NULL, (void *)http_index,
                      sizeof http_index - 1, MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/debug/pprof/profile") == 0) return http_timed(c, &http_cpu);
  if (strcmp(url, "/debug/pprof/goroutine") == 0) return http_goroutine(c);
  if (strcmp(url, "/debug/pprof/block") == 0) return http_contention(c, BLOCKPROF_BLOCK, "block");
  if (strcmp(url, "/debug/pprof/mutex") == 0) return http_contention(c, BLOCKPROF_MUTEX, "mutex");
  if (strcmp(url, "/debug/pprof/wall") == 0) return http_timed(c, &http_wallprof);
  if (strncmp(url, "/debug/pprof/", 13) == 0)
    return http_error(c, MHD_HTTP_NOT_FOUND, "Unknown profile");
  return http_error(c, MHD_HTTP_NOT_FOUND, "404 page not found");
}

/* ---- starting ---- */

/*
 * Binds and listens on addr ("host:port", "[v6]:port"; an empty host is
 * 127.0.0.1, so only an explicit address leaves loopback).  The socket, or
 * -errno with why filled in.
 */
static int http_listen(const char *addr, int *family, char *why, size_t whylen) {
  char host[256];
  const char *colon, *h = addr;
  size_t hlen;
  if (addr[0] == '[') {
    const char *close_br = strchr(addr, ']');
    if (!close_br || close_br[1] != ':') goto bad;
    h = addr + 1;
    hlen = (size_t)(close_br - h);
    colon = close_br + 1;
  } else {
    colon = strrchr(addr, ':');
    if (!colon) goto bad;
    hlen = (size_t)(colon - addr);
    if (memchr(addr, ':', hlen)) goto bad; /* a bare IPv6 address needs [] */
  }
  if (hlen >= sizeof host) goto bad;
  memcpy(host, h, hlen);
  host[hlen] = 0;
  if (!host[0]) strcpy(host, "127.0.0.1");
  const char *port = colon + 1;
  long p;
  if (port[0] < '0' || port[0] > '9' || !env_parse_int(port, 1, 65535, &p)) goto bad;

  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai) {
    snprintf(why, whylen, "cannot resolve \"%s\": %s", host, gai_strerror(gai));
    return gai == EAI_SYSTEM && errno ? -errno : -EINVAL;
  }
  int err = -EADDRNOTAVAIL;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = -errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      *family = a->ai_family;
      freeaddrinfo(ai);
      return fd;
    }
    err = -errno;
    close(fd);
  }
  freeaddrinfo(ai);
  snprintf(why, whylen, "cannot listen: %s", strerror(-err));
  return err;
bad:
  snprintf(why, whylen, "want host:port with a port in 1..65535");
  return -EINVAL;
}

/* Each connection is one fd (and one thread): half the fds the process
 * may open, leaving the other half to the program. */
static unsigned http_max_connections(void) {
  struct rlimit rl;
  rlim_t n = HTTP_MAX_CONNECTIONS;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) n = rl.rlim_cur / 2;
  if (n < HTTP_MIN_CONNECTIONS) n = HTTP_MIN_CONNECTIONS;
  if (n > HTTP_MAX_CONNECTIONS) n = HTTP_MAX_CONNECTIONS;
  return (unsigned)n;
}

static int http_serve(const char *addr, char *why, size_t whylen) {
  pthread_mutex_lock(&http.lock);
  if (http.daemon) {
    snprintf(why, whylen, "already serving /debug/pprof on %.200s", http.addr);
    pthread_mutex_unlock(&http.lock);
    return -EBUSY;
  }
  int family = AF_INET;
  int fd = http_listen(addr, &family, why, whylen);
  if (fd < 0) {
    pthread_mutex_unlock(&http.lock);
    return fd;
  }
  long timeout_s = HTTP_DEFAULT_REQUEST_TIMEOUT_S;
  char if_bad[32];
  snprintf(if_bad, sizeof if_bad, "using %d", HTTP_DEFAULT_REQUEST_TIMEOUT_S);
  env_int("GRT_PPROF_REQUEST_TIMEOUT", 1, HTTP_MAX_REQUEST_TIMEOUT_S, &timeout_s, if_bad);
  /* Threads inherit the mask: the server's all start with every signal
   * blocked. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = http_sweeper_start((int64_t)timeout_s * 1000000000);
  struct MHD_Daemon *d = NULL;
  if (!err) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* clang-format off */
    d = MHD_start_daemon(flags, 0, NULL, NULL, http_handle, NULL,
                         MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
                         MHD_OPTION_CONNECTION_LIMIT, http_max_connections(),
                         MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, NULL,
                         MHD_OPTION_NOTIFY_COMPLETED, http_request_done, NULL,
                         MHD_OPTION_URI_LOG_CALLBACK, http_uri, NULL,
                         MHD_OPTION_END);
    /* clang-format on */
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!d) {
    close(fd);
    if (err)
      snprintf(why, whylen, "cannot start the server's request-deadline thread: %s",
               strerror(-err));
    else
      snprintf(why, whylen, "cannot start the HTTP server (libmicrohttpd)");
    pthread_mutex_unlock(&http.lock);
    return err ? err : -ENOMEM;
  }
  http.daemon = d;
  snprintf(http.addr, sizeof http.addr, "%s", addr);
  pthread_mutex_unlock(&http.lock);
  return 0;
}

int grt_pprof_serve(const char *addr) {
  char why[256];
  int err = http_serve(addr ? addr : HTTP_DEFAULT_ADDR, why, sizeof why);
  if (err) warn_line("grt_pprof_serve(\"%s\"): %s", addr ? addr : HTTP_DEFAULT_ADDR, why);
  return err;
}

void http_from_env(void) {
  const char *addr = getenv("GRT_PPROF_ADDR");
  if (!addr || !*addr) return;
  char why[256];
  int err = http_serve(addr, why, sizeof why);
  if (err) warn_line("grt: GRT_PPROF_ADDR=\"%s\": %s; /debug/pprof not served", addr, why);
}
