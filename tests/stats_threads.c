/*
 * stats_threads: grt_read_stats().threads counts threads that started, not
 * attempts.  This program defines pthread_create itself (libgrt's calls
 * bind to the executable's definition first), passing each call on to the
 * real one, or failing it with EAGAIN while `failing` is set, as
 * RLIMIT_NPROC or a full kernel would.
 *   - While every thread start fails, 8 goroutines on 4 Ps block in
 *     extcalls of 15 ms (so sysmon hands their Ps to new Ms) and spawn
 *     more goroutines (each a wakeup for a new M): many starts fail, and
 *     the program still runs, on the threads it has.
 *   - Then threads may start again, and the same load runs once more.
 *   - threads must equal the Ms that have a thread: the main thread plus
 *     the threads started with the Ms' start function (the others, sysmon
 *     and the SIGQUIT thread, are not Ms), which are all the entries of
 *     /proc/self/task but those others and the threads that were there
 *     before grt started (none but main natively; qemu-user adds one of
 *     its own).  Before the fix, every failed
 *     start stayed counted (169 threads for 13 tasks).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "testutil.h"

#define MAX_STARTS 1024
static _Atomic int failing, failed, started;
static void *(*start_fns[MAX_STARTS])(void *); /* each started thread's function */

int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
  if (!real) {
    *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    CHECK(real);
  }
  if (atomic_load(&failing)) {
    atomic_fetch_add(&failed, 1);
    return EAGAIN;
  }
  int r = real(th, attr, fn, arg);
  if (r == 0) {
    int i = atomic_fetch_add(&started, 1);
    if (i < MAX_STARTS) start_fns[i] = fn;
  }
  return r;
}

static int tasks(void) {
  DIR *d = opendir("/proc/self/task");
  CHECK(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void *block_15ms(void *unused) {
  (void)unused;
  struct timespec ts = {0, 15000000};
  nanosleep(&ts, NULL);
  return NULL;
}

static grt_wg wg;
static int tasks_before; /* threads before grt ran: 1, or 2 under qemu-user (its RCU thread) */

static void nothing(void *unused) {
  (void)unused;
  grt_wg_done(&wg);
}

static void worker(void *unused) {
  (void)unused;
  for (int i = 0; i < 5; i++) {
    grt_extcall(block_15ms, NULL);
    grt_wg_add(&wg, 4);
    for (int k = 0; k < 4; k++)
      CHECK(grt_go(nothing, NULL) == 0);
  }
  grt_wg_done(&wg);
}

static void load(void) {
  grt_wg_add(&wg, 8);
  for (int i = 0; i < 8; i++)
    CHECK(grt_go(worker, NULL) == 0);
  grt_wg_wait(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  atomic_store(&failing, 1);
  load();
  atomic_store(&failing, 0);
  int nfailed = atomic_load(&failed);
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("while thread starts failed: %d failed, threads %llu, tasks %d\n", nfailed,
         (unsigned long long)st.threads, tasks());
  CHECK(nfailed > 0);

  load();
  grt_sleep(50000000); /* new Ms settle (they never exit) */
  CHECK(grt_read_stats(&st) == 0);
  int ntasks = tasks(), nstarted = atomic_load(&started);
  CHECK(nstarted <= MAX_STARTS);
  /* The last thread started ran an M (only Ms start under load); the
   * threads grt started with another function (sysmon, the SIGQUIT
   * thread) are not Ms. */
  void *(*mstart)(void *) = start_fns[nstarted - 1];
  int ms = 1; /* the main thread's M */
  for (int i = 0; i < nstarted; i++)
    ms += start_fns[i] == mstart;
  int others = nstarted - (ms - 1);
  printf("after: threads %llu; tasks %d = the main thread, %d started Ms and %d other threads\n",
         (unsigned long long)st.threads, ntasks, ms - 1, others);
  CHECK(ntasks == tasks_before + nstarted);
  CHECK(st.threads == (uint64_t)ms);
  CHECK(st.threads == (uint64_t)(ntasks - (tasks_before - 1) - others));
  CHECK(ms >= 3); /* Ms did start again once allowed */
  printf("stats_threads: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  tasks_before = tasks();
  return main_with_procs("4", run, argc, argv);
}
