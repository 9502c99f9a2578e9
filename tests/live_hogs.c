/*
 * live_hogs: GRT_DEBUG=hogs reports each P handed off from a goroutine that
 * held it without calling grt, with the goroutine's id, how long it held
 * the P, and its stack, which names the hogging function.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static _Atomic int stop;

/* Exported (the test links with -rdynamic), so the report can name it.
 * It spins on a flag rather than on the clock, so that the interrupted
 * pc is its own, not a frameless vDSO leaf's. */
__attribute__((noinline)) void hog_spin_here(void) {
  volatile uint64_t spins = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed))
    spins++;
}

static void *stopper(void *arg) {
  (void)arg;
  struct timespec ts = {0, 200000000};
  nanosleep(&ts, NULL);
  atomic_store(&stop, 1);
  return NULL;
}

static grt_wg wg;

static void hog(void *arg) {
  (void)arg;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, stopper, NULL) == 0);
  hog_spin_here();
  pthread_join(t, NULL);
  grt_wg_done(&wg);
}

static void ticker(void *arg) {
  (void)arg;
  for (int i = 0; i < 10; i++)
    grt_sleep(10 * 1000000LL);
  grt_wg_done(&wg);
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&wg, 2);
  CHECK(grt_go(hog, NULL) == 0);
  CHECK(grt_go(ticker, NULL) == 0);
  grt_wg_wait(&wg);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  static char out[4096], err[16384];
  const char *args[] = {"child", NULL};
  const char *env[] = {"GRT_MAXPROCS=1", "GRT_DEBUG=hogs", NULL};
  int status = run_self(args, env, out, err, sizeof err);
  printf("stderr:\n%s", err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const char *report = strstr(err, "held its P for");
  CHECK(report);
  CHECK(strstr(report, "hog_spin_here"));
  /* Without GRT_DEBUG, nothing is printed. */
  const char *quiet[] = {"GRT_MAXPROCS=1", "GRT_DEBUG", NULL};
  status = run_self(args, quiet, out, err, sizeof err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(!strstr(err, "held its P"));
  printf("ok\n");
  return 0;
}
