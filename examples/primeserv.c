/*
 * primeserv - a small line-oriented TCP server the way a Go programmer
 * would write it on grt: a goroutine per connection, a fixed pool of
 * worker goroutines that do the CPU work, a deadline on every request,
 * and a graceful shutdown on SIGTERM or Ctrl-C.
 *
 *   ./primeserv [port]           default 7001 on 127.0.0.1; 0 picks one
 *   printf '1000000\n20000000\n' | nc -q1 127.0.0.1 7001
 *
 * Each request line is a number N; the reply is "N: K primes below N", or
 * "N: timeout" when the pool could not answer within the deadline (250 ms;
 * the worker's result is then dropped, never blocking it).  SIGTERM or
 * SIGINT (grt_signal_notify) stops accepting, lets the connections finish
 * their current request, stops the workers, and exits 0 with a summary.
 *
 * What it shows: timers as channels (grt_after) in a select with the reply
 * channel, reference-counted channels shared by a connection and a worker
 * (a late result goes into a channel nobody reads, freed by the last
 * owner), signals as channels, and wait groups.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WORKERS 4
#define DEADLINE_NS (250LL * 1000 * 1000)
#define IDLE_NS (30LL * 1000 * 1000 * 1000)

struct job {
  long n;
  grt_chan *reply; /* of long; the job holds a reference */
};

static grt_chan *jobs; /* of struct job */
static grt_wg workers = GRT_WG_INIT, conns = GRT_WG_INIT;
static _Atomic int stopping;
static _Atomic long served, timeouts;

static long count_primes(long n) {
  if (n < 3) return 0;
  char *composite = calloc((size_t)n, 1);
  if (!composite) return -1;
  long k = 0;
  for (long i = 2; i < n; i++) {
    if (composite[i]) continue;
    k++;
    for (long j = i * i; j < n; j += i)
      composite[j] = 1;
  }
  free(composite);
  return k;
}

static void worker(void *arg) {
  (void)arg;
  struct job j;
  while (grt_chan_recv(jobs, &j) == 1) {
    long k = count_primes(j.n);
    grt_select_case send = {.chan = j.reply, .dir = GRT_SEND, .elem = &k};
    grt_select(&send, 1, 0); /* never blocks: a timed-out asker is gone */
    grt_chan_release(j.reply);
  }
  grt_wg_done(&workers);
}

/* One request: N in, the answer or a timeout out. */
static int answer(long n, char *out, size_t len) {
  grt_chan *reply = grt_chan_make(sizeof(long), 1);
  if (!reply) return snprintf(out, len, "%ld: out of memory\n", n);
  struct job j = {n, grt_chan_retain(reply)}; /* the worker's reference */
  grt_chan *deadline = grt_after(DEADLINE_NS);
  long k = -1;
  grt_select_case cs[2] = {{.chan = reply, .dir = GRT_RECV, .elem = &k},
                           {.chan = deadline, .dir = GRT_RECV, .elem = NULL}};
  int r = -1;
  grt_select_case put = {.chan = jobs, .dir = GRT_SEND, .elem = &j};
  grt_select_case queue[2] = {put, cs[1]};
  if (grt_select(queue, 2, 1) == 0) /* queued before the deadline */
    r = grt_select(cs, 2, 1);
  else
    grt_chan_release(j.reply); /* never queued: the worker's reference too */
  grt_chan_release(deadline);
  grt_chan_release(reply);
  if (r == 0 && k >= 0) {
    atomic_fetch_add(&served, 1);
    return snprintf(out, len, "%ld: %ld primes below %ld\n", n, k, n);
  }
  atomic_fetch_add(&timeouts, 1);
  return snprintf(out, len, "%ld: timeout\n", n);
}

static void serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char line[64], out[128];
  size_t have = 0;
  while (!atomic_load(&stopping)) {
    ssize_t got = grt_read(fd, line + have, sizeof line - 1 - have, IDLE_NS);
    if (got <= 0) break;
    have += (size_t)got;
    line[have] = 0;
    char *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = 0;
      char *end;
      long n = strtol(line, &end, 10);
      int len = (*end || end == line || n < 0 || n > 100000000)
                    ? snprintf(out, sizeof out, "want a number in 0..100000000\n")
                    : answer(n, out, sizeof out);
      if (grt_write(fd, out, (size_t)len, IDLE_NS) != len) goto done;
      size_t used = (size_t)(nl + 1 - line);
      memmove(line, nl + 1, have - used + 1);
      have -= used;
    }
    if (have == sizeof line - 1) break; /* a line too long */
  }
done:
  grt_close(fd);
  grt_wg_done(&conns);
}

struct acceptor {
  int lfd;
};

static void accept_loop(void *arg) {
  struct acceptor *a = arg;
  for (;;) {
    int fd = grt_accept(a->lfd);
    if (fd < 0) break; /* -EBADF: the listener was closed for shutdown */
    grt_wg_add(&conns, 1);
    if (grt_go(serve_conn, (void *)(intptr_t)fd) != 0) {
      grt_close(fd);
      grt_wg_done(&conns);
    }
  }
  grt_wg_done(&conns);
}

static int real_main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7001;
  int lfd = grt_listen_tcp("127.0.0.1", port, 128);
  if (lfd < 0) {
    fprintf(stderr, "primeserv: listen on port %d: %s\n", port, strerror(-lfd));
    return 1;
  }
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &len);
  printf("primeserv: listening on 127.0.0.1:%d with %d workers\n", ntohs(sa.sin_port), WORKERS);
  fflush(stdout);

  jobs = grt_chan_make(sizeof(struct job), 0);
  grt_chan *sigs = grt_chan_make(sizeof(int), 2);
  if (!jobs || !sigs || grt_signal_notify(sigs, SIGTERM) || grt_signal_notify(sigs, SIGINT))
    return 1;
  grt_wg_add(&workers, WORKERS);
  for (int i = 0; i < WORKERS; i++)
    grt_go(worker, NULL);
  struct acceptor a = {lfd};
  grt_wg_add(&conns, 1);
  grt_go(accept_loop, &a);

  int sig = 0;
  grt_chan_recv(sigs, &sig); /* until SIGTERM or SIGINT */
  printf("primeserv: signal %d: shutting down\n", sig);
  atomic_store(&stopping, 1);
  grt_close(lfd);       /* the acceptor gets -EBADF */
  grt_wg_wait(&conns);  /* connections finish their request (or idle out) */
  grt_chan_close(jobs); /* then the workers */
  grt_wg_wait(&workers);
  grt_signal_stop(sigs);
  grt_chan_release(sigs);
  grt_chan_release(jobs);
  printf("primeserv: served %ld requests, %ld timed out\n", atomic_load(&served),
         atomic_load(&timeouts));
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(real_main, argc, argv);
}
