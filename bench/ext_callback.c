/*
 * ext_callback: round trip of grt_callback from a foreign thread.
 * GRT_MAXPROCS=2.  main_fn creates a plain pthread (pthread_create: not a
 * goroutine, not a thread grt created), which calls
 * grt_callback(empty_go, ...) N times; empty_go is an empty goroutine
 * function.  The thread times its loop itself and stores the result.  The
 * main goroutine waits for it through grt_extcall(join_fn, &tid), so the
 * blocking pthread_join does not hold its P.  Prints the thread's elapsed
 * time divided by N.  A smaller warm-up round (its own thread) runs first.
 * Go twin: bench/go/ext_callback (a pthread created in C calls an exported
 * Go function N times, timed in C with clock_gettime, GOMAXPROCS=2).
 */
#include "benchutil.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>

#define N_CALLS 1000000L
#define N_WARMUP 50000L

struct round {
  long n;
  int64_t ns;
  int err; /* errno of a failed grt_callback, or 0 */
};

/* The goroutine code: does nothing, but is really called. */
static void *empty_go(void *arg) {
  __asm__ volatile("" ::: "memory");
  return arg;
}

/* The foreign thread's body. */
static void *foreign(void *p) {
  struct round *r = p;
  int64_t t0 = grt_nanotime();
  for (long i = 0; i < r->n; i++) {
    if (grt_callback(empty_go, r) != r) {
      r->err = errno ? errno : EIO;
      break;
    }
  }
  r->ns = grt_nanotime() - t0;
  return NULL;
}

/* External code run by grt_extcall: waits for the foreign thread. */
static void *join_fn(void *p) {
  return (void *)(intptr_t)pthread_join(*(pthread_t *)p, NULL);
}

/* Runs one round of n callbacks on a new thread; returns elapsed ns, or -1. */
static int64_t run(long n) {
  struct round r = {n, 0, 0};
  pthread_t tid;
  int rc = pthread_create(&tid, NULL, foreign, &r);
  if (rc != 0) {
    fprintf(stderr, "ext_callback: pthread_create: %s\n", strerror(rc));
    return -1;
  }
  rc = (int)(intptr_t)grt_extcall(join_fn, &tid);
  if (rc != 0) {
    fprintf(stderr, "ext_callback: pthread_join: %s\n", strerror(rc));
    return -1;
  }
  if (r.err) {
    fprintf(stderr, "ext_callback: grt_callback failed: %s\n", strerror(r.err));
    return -1;
  }
  return r.ns;
}

static int measure(void) {
  return bench_timed("ext_callback_ns", run, N_WARMUP, N_CALLS, N_CALLS);
}

int main(int argc, char **argv) {
  return bench_main("2", measure, argc, argv);
}
