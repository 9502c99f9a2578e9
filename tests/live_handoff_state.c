/*
 * live_handoff_state: a goroutine whose P is handed off inside a CPU loop
 * keeps its thread and everything thread-local that its C code holds:
 * errno, a __thread counter, and a pthread mutex it locked before the loop
 * (an error-checking mutex: unlocking it from another thread would fail).
 * Then its grt_chan_send completes, and afterwards no goroutine runs
 * without a P (grt_read_stats: handoffs >= 1, running_without_p == 0).
 * GRT_MAXPROCS=1, with a second goroutine waiting to run the whole time.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static __thread long tls_counter;
static grt_chan *ch;
static grt_wg wg;
static _Atomic int other_ran;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void hog(void *arg) {
  (void)arg;
  pthread_mutexattr_t at;
  pthread_mutexattr_init(&at);
  pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t mu;
  pthread_mutex_init(&mu, &at);
  CHECK(pthread_mutex_lock(&mu) == 0);
  pid_t tid = (pid_t)syscall(SYS_gettid);
  tls_counter = 41;
  errno = 1234;
  /* 300 ms of computing without calling grt: the P is handed off. */
  volatile uint64_t spins = 0;
  for (int64_t end = now_ns() + 300000000; now_ns() < end;) {
    spins++;
    tls_counter += spins == 1000;
  }
  CHECK(errno == 1234);
  CHECK(tls_counter == 42);
  CHECK((pid_t)syscall(SYS_gettid) == tid);
  CHECK(atomic_load(&other_ran) == 1); /* the other goroutine ran meanwhile */
  CHECK(pthread_mutex_unlock(&mu) == 0);
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  CHECK(st.handoffs >= 1);
  CHECK(st.running_without_p == 1); /* this one */
  int v = 7;
  CHECK(grt_chan_send(ch, &v) == 0); /* the first grt call takes a P back */
  CHECK(grt_read_stats(&st) == 0);
  CHECK(st.running_without_p == 0);
  printf("handoffs %llu, thread kept, errno/TLS/mutex intact\n", (unsigned long long)st.handoffs);
  grt_wg_done(&wg);
}

static void other(void *arg) {
  (void)arg;
  atomic_store(&other_ran, 1);
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  ch = grt_chan_make(sizeof(int), 0);
  CHECK(ch);
  grt_wg_add(&wg, 2);
  CHECK(grt_go(hog, NULL) == 0);
  grt_yield(); /* the hog starts first */
  CHECK(grt_go(other, NULL) == 0);
  int v = 0;
  CHECK(grt_chan_recv(ch, &v) == 1 && v == 7);
  grt_wg_wait(&wg);
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  CHECK(st.running_without_p == 0);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
