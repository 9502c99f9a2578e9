/*
 * sync_misuse: the misuses of grt_rwmutex, grt_cond, grt_once, grt_sem and
 * grt_mutex_lock_timeout fail cleanly: the documented result and exactly
 * one stderr line naming the call, no crash, the object still usable.
 * NULL objects and functions, on a goroutine and on a plain thread;
 * unlock and runlock of an rwmutex not so held; negative counts and a
 * release past INT64_MAX.  (grt_cond_wait without holding the mutex is a
 * misuse the call cannot detect, as grt.h says: not tested.)
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"

static void nop(void *arg) {
  (void)arg;
}

/* NULL arguments: the same on a goroutine and on a plain thread. */
static void null_calls(void) {
  int r = -1;
  grt_mutex mu = GRT_MUTEX_INIT;
  grt_cond c = GRT_COND_INIT;
  ONE_LINE("grt_mutex_lock_timeout", r = grt_mutex_lock_timeout(NULL, 1000));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_rwmutex_lock", grt_rwmutex_lock(NULL));
  ONE_LINE("grt_rwmutex_unlock", grt_rwmutex_unlock(NULL));
  ONE_LINE("grt_rwmutex_rlock", grt_rwmutex_rlock(NULL));
  ONE_LINE("grt_rwmutex_runlock", grt_rwmutex_runlock(NULL));
  ONE_LINE("grt_rwmutex_trylock", r = grt_rwmutex_trylock(NULL));
  CHECK(r == 0);
  ONE_LINE("grt_rwmutex_tryrlock", r = grt_rwmutex_tryrlock(NULL));
  CHECK(r == 0);
  ONE_LINE("grt_cond_wait", grt_cond_wait(NULL, &mu));
  ONE_LINE("grt_cond_wait", grt_cond_wait(&c, NULL));
  ONE_LINE("grt_cond_signal", grt_cond_signal(NULL));
  ONE_LINE("grt_cond_broadcast", grt_cond_broadcast(NULL));
  grt_once o = GRT_ONCE_INIT;
  ONE_LINE("grt_once_do", r = grt_once_do(NULL, nop, NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_once_do", r = grt_once_do(&o, NULL, NULL));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_sem_init", r = grt_sem_init(NULL, 1));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_sem_acquire", r = grt_sem_acquire(NULL, 1));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_sem_tryacquire", r = grt_sem_tryacquire(NULL, 1));
  CHECK(r == 0);
  ONE_LINE("grt_sem_release", r = grt_sem_release(NULL, 1));
  CHECK(r == -EINVAL);
  /* Still usable after a NULL misuse named the other argument. */
  grt_mutex_lock(&mu);
  grt_cond_signal(&c);
  grt_mutex_unlock(&mu);
}

static void *plain_thread(void *arg) {
  (void)arg;
  null_calls();
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  null_calls();
  pthread_t t;
  CHECK(pthread_create(&t, NULL, plain_thread, NULL) == 0);
  CHECK(join_thread(t) == 0);

  /* Unlock / runlock of an rwmutex not so held: one line, still works. */
  grt_rwmutex rw = GRT_RWMUTEX_INIT;
  ONE_LINE("grt_rwmutex_unlock", grt_rwmutex_unlock(&rw));
  ONE_LINE("grt_rwmutex_runlock", grt_rwmutex_runlock(&rw));
  grt_rwmutex_rlock(&rw);
  ONE_LINE("grt_rwmutex_unlock", grt_rwmutex_unlock(&rw)); /* read-locked only */
  CHECK(grt_rwmutex_trylock(&rw) == 0);
  grt_rwmutex_runlock(&rw);
  grt_rwmutex_lock(&rw);
  ONE_LINE("grt_rwmutex_runlock", grt_rwmutex_runlock(&rw)); /* write-locked only */
  CHECK(grt_rwmutex_tryrlock(&rw) == 0);
  grt_rwmutex_unlock(&rw);
  CHECK(grt_rwmutex_trylock(&rw) == 1);
  grt_rwmutex_unlock(&rw);

  /* Semaphore counts. */
  grt_sem s = GRT_SEM_INIT(1);
  int r;
  ONE_LINE("grt_sem_acquire", r = grt_sem_acquire(&s, -1));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_sem_release", r = grt_sem_release(&s, -1));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_sem_tryacquire", r = grt_sem_tryacquire(&s, -1));
  CHECK(r == 0);
  ONE_LINE("grt_sem_init", r = grt_sem_init(&s, -1));
  CHECK(r == -EINVAL);
  ONE_LINE("grt_sem_release", r = grt_sem_release(&s, INT64_MAX));
  CHECK(r == -EINVAL);
  CHECK(s.count == 1);
  CHECK(grt_sem_acquire(&s, 1) == 0);
  CHECK(grt_sem_tryacquire(&s, 1) == 0);
  CHECK(grt_sem_release(&s, 1) == 0);

  printf("sync_misuse: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
