/*
 * prof_nomalloc: the SIGPROF handler never allocates.  This program
 * replaces malloc and friends (forwarding to glibc's __libc_* functions);
 * each call first asks the kernel whether the thread is running on its
 * signal stack (sigaltstack's SS_ONSTACK) and, if so, counts a trap and
 * remembers the caller.  Every grt thread runs its signal handlers there.
 *
 * First the detector proves it works: a SIGUSR1 handler on the signal
 * stack that calls malloc must be trapped.  Then, at 1000 Hz on 2 Ps for
 * about 2 s: goroutines yielding, goroutines ping-ponging over channels,
 * extcalls, and 4 foreign threads calling back in.  Zero traps allowed.
 * (Skipped under ASan, which owns malloc.)
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#if !defined(__SANITIZE_ADDRESS__)

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static _Atomic int traps;
static void *_Atomic first_trap;

static inline void trap_if_on_signal_stack(void *caller) {
  stack_t ss;
  if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
    void *none = NULL;
    atomic_compare_exchange_strong(&first_trap, &none, caller);
    atomic_fetch_add(&traps, 1);
  }
}

void *malloc(size_t n) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  return __libc_realloc(p, n);
}
void free(void *p) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  __libc_free(p);
}
void *memalign(size_t align, size_t n) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  void *p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void *aligned_alloc(size_t align, size_t n) {
  trap_if_on_signal_stack(__builtin_return_address(0));
  return __libc_memalign(align, n);
}

/* ---- the detector's self-test ---- */

static void usr1_mallocs(int sig) {
  (void)sig;
  free(malloc(16));
}

/* ---- the workload ---- */

#define HZ 1000
volatile unsigned long sink;
static _Atomic int stop;
static grt_wg workers;
static grt_chan *ping, *pong;

static void yielder(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    for (int i = 0; i < 1000; i++)
      sink += (unsigned long)i;
    grt_yield();
  }
  grt_wg_done(&workers);
}

static void pinger(void *arg) {
  (void)arg;
  int v = 0;
  while (!atomic_load(&stop)) {
    CHECK(grt_chan_send(ping, &v) == 0);
    CHECK(grt_chan_recv(pong, &v) == 1);
  }
  v = -1;
  CHECK(grt_chan_send(ping, &v) == 0);
  grt_wg_done(&workers);
}

static void ponger(void *arg) {
  (void)arg;
  int v;
  while (grt_chan_recv(ping, &v) == 1 && v >= 0)
    CHECK(grt_chan_send(pong, &v) == 0);
  grt_wg_done(&workers);
}

static void *external_work(void *arg) {
  (void)arg;
  for (int i = 0; i < 20000; i++)
    sink += (unsigned long)i;
  return NULL;
}

static void extcaller(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    grt_extcall(external_work, NULL);
    grt_yield();
  }
  grt_wg_done(&workers);
}

static void *callback_work(void *arg) {
  (void)arg;
  for (int i = 0; i < 2000; i++)
    sink += (unsigned long)i;
  if (sink % 3 == 0) grt_yield();
  return NULL;
}

static void *foreign(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    grt_callback(callback_work, NULL);
    usleep(50);
  }
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  /* The detector catches an allocation on the signal stack. */
  struct sigaction sa = {.sa_handler = usr1_mallocs, .sa_flags = SA_ONSTACK};
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  CHECK(raise(SIGUSR1) == 0);
  CHECK(atomic_load(&traps) == 2); /* the malloc and the free */
  atomic_store(&traps, 0);
  atomic_store(&first_trap, NULL);

  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("nomalloc.pb.gz"));
  ping = grt_chan_make(sizeof(int), 0);
  pong = grt_chan_make(sizeof(int), 0);
  CHECK(ping && pong);
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  grt_wg_add(&workers, 5);
  CHECK(grt_go(yielder, NULL) == 0);
  CHECK(grt_go(yielder, NULL) == 0);
  CHECK(grt_go(pinger, NULL) == 0);
  CHECK(grt_go(ponger, NULL) == 0);
  CHECK(grt_go(extcaller, NULL) == 0);
  pthread_t threads[4];
  for (int i = 0; i < 4; i++)
    CHECK(pthread_create(&threads[i], NULL, foreign, NULL) == 0);
  grt_sleep(2000000000LL);
  atomic_store(&stop, 1);
  grt_wg_wait(&workers);
  for (int i = 0; i < 4; i++)
    CHECK(join_thread(threads[i]) == 0);
  /* Count before stop: symbolizing afterwards allocates, on g0. */
  int n = atomic_load(&traps);
  CHECK(grt_prof_stop() == 0);
  if (n) {
    Dl_info info;
    void *at = atomic_load(&first_trap);
    fprintf(stderr, "%d allocations on a signal stack; the first from %p (%s)\n", n, at,
            dladdr(at, &info) && info.dli_sname ? info.dli_sname : "?");
  }
  CHECK(n == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  int rows = pprof_check_cpu_profile(&r, HZ);
  printf("%d sample rows, %lld samples, no allocation in the handler\n", rows,
         (long long)pprof_total_count(&r));
  CHECK(rows > 0);
  pprof_free(&r);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}

#else
int main(void) {
  printf("SKIP: ASan replaces malloc itself\n");
  return 77;
}
#endif
