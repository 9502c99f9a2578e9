/*
 * live_block: one goroutine that blocks its thread in plain C (no
 * grt_extcall) or computes without calling grt must not stop the others.
 * sysmon hands its P to another thread after 10 ms.
 *
 * For each kind of blocker, and with GRT_MAXPROCS=1 (one blocker) and 2
 * (two blockers), a child process runs a ticker goroutine that sleeps
 * 10 ms at a time and counts its ticks during the second in which the
 * blockers are, in turn:
 *   sleep   in sleep(1);
 *   read    in read(2) on an empty pipe that a foreign thread writes 1 s later;
 *   loop    in a 1-second CPU loop;
 *   mutex   in pthread_mutex_lock on a mutex a foreign thread holds for 1 s;
 *   connect in a blocking connect(2) to a unix socket whose backlog is full
 *           until a foreign thread accepts, 1 s later.
 * The ticker must tick at least 50 times in that second (100 is ideal; a
 * frozen runtime gives 0 or 1).  Afterwards every blocker returns to grt
 * (a wait group), so each handed-off goroutine got a P back.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define BLOCK_NS 1000000000LL
#define TICK_NS 10000000LL
#define MAX_TICKS 400

static const char *kind;
static int nblockers;
static grt_wg wg;
static _Atomic int64_t window_start; /* when the first blocker blocked */
static int64_t ticks[MAX_TICKS];
static _Atomic int nticks;
static _Atomic int stop_ticker;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ticker(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_ticker)) {
    grt_sleep(TICK_NS);
    int i = atomic_fetch_add(&nticks, 1);
    if (i < MAX_TICKS) ticks[i] = grt_nanotime();
  }
  grt_wg_done(&wg);
}

/* ---- foreign helpers: release a blocker after BLOCK_NS ---- */

struct release {
  int kind; /* 0 write a pipe, 1 unlock a mutex, 2 accept */
  int fd;
  pthread_mutex_t *mu;
  _Atomic int locked;
};

static void *releaser(void *arg) {
  struct release *r = arg;
  if (r->kind == 1) {
    pthread_mutex_lock(r->mu);
    atomic_store(&r->locked, 1);
  }
  struct timespec ts = {BLOCK_NS / 1000000000, BLOCK_NS % 1000000000};
  nanosleep(&ts, NULL);
  if (r->kind == 0) CHECK(write(r->fd, "x", 1) == 1);
  if (r->kind == 1) pthread_mutex_unlock(r->mu);
  if (r->kind == 2) {
    int a = accept(r->fd, NULL, NULL); /* the queued connection */
    int b = accept(r->fd, NULL, NULL); /* the blocked one */
    CHECK(a >= 0 && b >= 0);
    close(a);
    close(b);
  }
  return NULL;
}

static void mark_blocking(void) {
  int64_t zero = 0;
  atomic_compare_exchange_strong(&window_start, &zero, grt_nanotime());
}

static void blocker(void *arg) {
  int id = (int)(intptr_t)arg;
  pthread_t t;
  if (strcmp(kind, "sleep") == 0) {
    mark_blocking();
    sleep(1);
  } else if (strcmp(kind, "loop") == 0) {
    mark_blocking();
    volatile uint64_t spins = 0;
    for (int64_t end = now_ns() + BLOCK_NS; now_ns() < end;)
      spins++;
  } else if (strcmp(kind, "read") == 0) {
    int p[2];
    CHECK(pipe(p) == 0);
    struct release r = {.kind = 0, .fd = p[1]};
    CHECK(pthread_create(&t, NULL, releaser, &r) == 0);
    char c;
    mark_blocking();
    CHECK(read(p[0], &c, 1) == 1);
    pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
  } else if (strcmp(kind, "mutex") == 0) {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct release r = {.kind = 1, .mu = &mu};
    CHECK(pthread_create(&t, NULL, releaser, &r) == 0);
    while (!atomic_load(&r.locked))
      sched_yield();
    mark_blocking();
    CHECK(pthread_mutex_lock(&mu) == 0);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
  } else if (strcmp(kind, "connect") == 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "grt-live-%d-%d", (int)getpid(), id);
    socklen_t len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, len) == 0 && listen(l, 0) == 0);
    int q = socket(AF_UNIX, SOCK_STREAM, 0); /* fills the backlog */
    CHECK(q >= 0 && connect(q, (struct sockaddr *)&sa, len) == 0);
    struct release r = {.kind = 2, .fd = l};
    CHECK(pthread_create(&t, NULL, releaser, &r) == 0);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    mark_blocking();
    CHECK(c >= 0 && connect(c, (struct sockaddr *)&sa, len) == 0); /* blocks until accepted */
    pthread_join(t, NULL);
    close(c);
    close(q);
    close(l);
  }
  grt_wg_done(&wg);
}

static int child(int argc, char **argv) {
  (void)argc;
  kind = argv[2];
  nblockers = grt_maxprocs();
  grt_wg_add(&wg, 1 + nblockers);
  CHECK(grt_go(ticker, NULL) == 0);
  grt_sleep(50 * 1000000LL); /* the ticker is ticking */
  for (int i = 0; i < nblockers; i++)
    CHECK(grt_go(blocker, (void *)(intptr_t)i) == 0);
  grt_sleep(BLOCK_NS + 300 * 1000000LL);
  atomic_store(&stop_ticker, 1);
  grt_wg_wait(&wg);
  int64_t from = atomic_load(&window_start) + 20 * 1000000LL, to = from + BLOCK_NS - 40000000LL;
  int n = atomic_load(&nticks), in = 0;
  for (int i = 0; i < n && i < MAX_TICKS; i++)
    in += ticks[i] >= from && ticks[i] < to;
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("%s on %d P: %d ticks in the blocked second (handoffs %llu, still without a P %llu)\n",
         kind, nblockers, in, (unsigned long long)st.handoffs,
         (unsigned long long)st.running_without_p);
  CHECK(in >= 50);
  CHECK(st.running_without_p == 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  static const char *kinds[] = {"sleep", "read", "loop", "mutex", "connect"};
  static const char *procs[] = {"GRT_MAXPROCS=1", "GRT_MAXPROCS=2"};
  int failed = 0;
  for (int p = 0; p < 2; p++)
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
      static char out[4096], err[4096];
      const char *args[] = {"child", kinds[k], NULL};
      const char *env[] = {procs[p], NULL};
      int status = run_self(args, env, out, err, sizeof out);
      printf("%s%s", out, err);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("FAIL: %s with %s (status %#x)\n", kinds[k], procs[p], status);
        failed++;
      }
    }
  if (failed) return 1;
  printf("ok\n");
  return 0;
}
