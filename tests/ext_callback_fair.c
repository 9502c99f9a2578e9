/*
 * ext_callback_fair: a storm of callbacks from foreign threads does not
 * starve timers.  64 plain pthreads loop (usleep 50 us, grt_callback) on
 * 2 Ps until the main goroutine has slept 10 x 100 ms.  When finishing callbacks passed their P
 * straight to the next waiting callback without ever scheduling, the
 * sleeper's timer never ran and this test hung (it then fails by ctest's
 * timeout; nothing here is timed).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"

/* 64 under ASan too, since callbacks waiting for a P take turns with the
 * goroutines (sched.c, the callback queue). */
#define THREADS 64

static _Atomic int stop;
static volatile unsigned long sink;

static void *cb_work(void *arg) {
  unsigned long x = (uintptr_t)arg;
  for (int i = 0; i < 2000; i++)
    x = x * 6364136223846793005ul + 1;
  sink += x;
  return NULL;
}

static void *storm(void *arg) {
  while (!atomic_load(&stop)) {
    usleep(50);
    grt_callback(cb_work, arg);
  }
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_create(&t[i], NULL, storm, (void *)(uintptr_t)(i + 1)) == 0);
  for (int i = 0; i < 10; i++)
    grt_sleep(100000000);
  printf("the sleeper woke 10 times during the storm\n");
  atomic_store(&stop, 1);
  for (int i = 0; i < THREADS; i++)
    CHECK(join_thread(t[i]) == 0);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
