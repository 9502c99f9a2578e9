/*
 * ctx_server: the newcomer's server of issue 15, written with contexts.  A
 * goroutine per connection, a worker pool, and a deadline per request
 * (grt_ctx_with_timeout under the server's context): the handler reads
 * the request with grt_read_ctx, hands the job to the pool and waits for
 * the reply or the request's done channel; a worker does its "slow work"
 * (a 1 s timer) in a select against the same done channel, so a timed-out
 * job is abandoned at once, not left burning or sleeping.  1000 requests,
 * every one of them timing out (20 ms deadline), from 50 client
 * goroutines; then a graceful shutdown: cancelling the server's context
 * ends grt_accept_ctx, the handlers drain, the pool is closed.
 *   - every request is answered "timeout";
 *   - 0 goroutines are left: grt_read_stats counts only those that were
 *     there before the server started;
 *   - every context, channel and job is freed: the test runs under
 *     LeakSanitizer (detect_leaks=1 in the ASan build).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MS 1000000LL
#define REQUESTS 1000
#define CLIENTS 50
#define WORKERS 8
#define DEADLINE (20 * MS)

struct job {
  grt_ctx *ctx;    /* the request's; the job holds a reference */
  grt_chan *reply; /* of long, cap 1: a late reply never blocks the worker */
};

static grt_ctx *server;
static grt_chan *jobs;
static grt_wg handlers = GRT_WG_INIT, workers = GRT_WG_INIT, clients = GRT_WG_INIT;
static int port;
static _Atomic int answered_timeout, answered_ok, abandoned;

static void job_free(struct job *j) {
  grt_ctx_release(j->ctx);
  grt_chan_release(j->reply);
  free(j);
}

static void worker(void *arg) {
  (void)arg;
  struct job *j;
  while (grt_chan_recv(jobs, &j) == 1) {
    grt_timer *work = grt_timer_make(1000 * MS); /* the slow part */
    CHECK(work);
    grt_select_case cs[2] = {{.chan = grt_timer_chan(work), .dir = GRT_RECV},
                             {.chan = grt_ctx_done(j->ctx), .dir = GRT_RECV}};
    int r = grt_select(cs, 2, 1);
    grt_timer_free(work);
    if (r == 0) {
      long v = 42;
      grt_chan_send(j->reply, &v);
    } else {
      atomic_fetch_add(&abandoned, 1);
    }
    job_free(j);
  }
  grt_wg_done(&workers);
}

static void handler(void *arg) {
  int fd = (int)(intptr_t)arg;
  grt_ctx *ctx = grt_ctx_with_timeout(server, DEADLINE);
  CHECK(ctx);
  char buf[64];
  long v = 0;
  int ok = 0;
  ssize_t n = grt_read_ctx(fd, buf, sizeof buf, ctx);
  if (n > 0) {
    struct job *j = malloc(sizeof *j);
    CHECK(j);
    grt_chan *reply = grt_chan_make(sizeof(long), 1);
    CHECK(reply);
    j->ctx = grt_ctx_retain(ctx);
    j->reply = grt_chan_retain(reply);
    grt_select_case give[2] = {{.chan = jobs, .dir = GRT_SEND, .elem = &j},
                               {.chan = grt_ctx_done(ctx), .dir = GRT_RECV}};
    if (grt_select(give, 2, 1) == 0) {
      grt_select_case wait[2] = {{.chan = reply, .dir = GRT_RECV, .elem = &v},
                                 {.chan = grt_ctx_done(ctx), .dir = GRT_RECV}};
      ok = grt_select(wait, 2, 1) == 0;
    } else {
      job_free(j); /* never handed over */
    }
    grt_chan_release(reply);
  }
  /* The request's context is done: the answer goes out on its own timeout. */
  const char *msg = ok ? "ok\n" : "timeout\n";
  grt_write(fd, msg, strlen(msg), 1000 * MS);
  atomic_fetch_add(ok ? &answered_ok : &answered_timeout, 1);
  grt_ctx_free(ctx);
  grt_close(fd);
  grt_wg_done(&handlers);
}

static void listener(void *arg) {
  int lfd = (int)(intptr_t)arg;
  int fd;
  while ((fd = grt_accept_ctx(lfd, server)) >= 0) {
    grt_wg_add(&handlers, 1);
    CHECK(grt_go(handler, (void *)(intptr_t)fd) == 0);
  }
  CHECK(fd == -ECANCELED); /* the shutdown */
  grt_close(lfd);
  grt_wg_done(&handlers);
}

static _Atomic int client_timeouts;

static void client(void *arg) {
  (void)arg;
  for (int i = 0; i < REQUESTS / CLIENTS; i++) {
    int fd = grt_connect_tcp("127.0.0.1", port, 5000 * MS);
    CHECK(fd >= 0);
    CHECK(grt_write(fd, "work\n", 5, 5000 * MS) == 5);
    /* The whole answer, to the server's close: a read may return part. */
    char buf[16] = {0};
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 &&
           (n = grt_read(fd, buf + len, sizeof buf - 1 - len, 5000 * MS)) > 0)
      len += (size_t)n;
    CHECK(len > 0);
    if (strcmp(buf, "timeout\n") == 0) atomic_fetch_add(&client_timeouts, 1);
    grt_close(fd);
  }
  grt_wg_done(&clients);
}

struct wg_closer {
  grt_wg *wg;
  grt_chan *c;
};
static void wg_closer(void *arg) {
  struct wg_closer *w = arg;
  grt_wg_wait(w->wg);
  grt_chan_close(w->c);
}

/* grt_wg_wait, but a wait group still not done after 10 s fails the test
 * (a goroutine the shutdown did not end) instead of hanging it. */
static void wg_wait_bounded(grt_wg *wg, const char *what) {
  struct wg_closer w = {wg, grt_chan_make(0, 0)};
  grt_chan *after = grt_after(10000 * MS);
  CHECK(w.c && after && grt_go(wg_closer, &w) == 0);
  grt_select_case cs[2] = {{.chan = w.c, .dir = GRT_RECV}, {.chan = after, .dir = GRT_RECV}};
  if (grt_select(cs, 2, 1) != 0) {
    printf("%s did not end within 10 s\n", what);
    exit(1);
  }
  grt_chan_release(after); /* its timer frees itself when it fires */
  grt_chan_release(w.c);
}

static uint64_t live_goroutines(void) {
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  return st.goroutines;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  uint64_t before = live_goroutines();
  server = grt_ctx_with_cancel(grt_ctx_background());
  jobs = grt_chan_make(sizeof(struct job *), 0);
  CHECK(server && jobs);
  int lfd = grt_listen_tcp("127.0.0.1", 0, 512);
  CHECK(lfd >= 0);
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  port = ntohs(sa.sin_port);
  grt_wg_add(&workers, WORKERS);
  for (int i = 0; i < WORKERS; i++)
    CHECK(grt_go(worker, NULL) == 0);
  grt_wg_add(&handlers, 1); /* the listener's */
  CHECK(grt_go(listener, (void *)(intptr_t)lfd) == 0);

  int64_t t0 = grt_nanotime();
  grt_wg_add(&clients, CLIENTS);
  for (int i = 0; i < CLIENTS; i++)
    CHECK(grt_go(client, NULL) == 0);
  wg_wait_bounded(&clients, "the clients");
  printf("%d requests in %.2f s: %d answered timeout (%d ok), %d jobs abandoned by workers\n",
         REQUESTS, (grt_nanotime() - t0) / 1e9, atomic_load(&client_timeouts),
         atomic_load(&answered_ok), atomic_load(&abandoned));
  if (atomic_load(&client_timeouts) != REQUESTS)
    fprintf(stderr, "clients saw %d timeouts\n", atomic_load(&client_timeouts));
  CHECK(atomic_load(&client_timeouts) == REQUESTS && atomic_load(&answered_timeout) == REQUESTS);
  printf("goroutines while idle: %llu (before the server: %llu)\n",
         (unsigned long long)live_goroutines(), (unsigned long long)before);

  /* Graceful shutdown. */
  grt_ctx_cancel(server);
  wg_wait_bounded(&handlers, "the listener and the handlers");
  grt_chan_close(jobs);
  wg_wait_bounded(&workers, "the worker pool");
  grt_ctx_free(server);
  grt_chan_release(jobs);
  uint64_t after = live_goroutines();
  for (int i = 0; i < 200 && after > before; i++) { /* the last ones finish exiting */
    grt_sleep(10 * MS);
    after = live_goroutines();
  }
  printf("goroutines after shutdown: %llu (leaked: %lld)\n", (unsigned long long)after,
         (long long)(after - before));
  CHECK(after == before);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
