/*
 * prof_no_m: SIGPROF on a thread grt knows nothing about.  While a profile
 * runs, a pthread that never calls into grt spins in foreign_spin, and the
 * main goroutine sends it SIGPROF with pthread_kill, one signal at a time:
 * it waits until the thread has run on long enough that the signal was
 * handled before sending the next, so none merge.  The handler finds no
 * goroutine (TLS g is NULL) and no M: it must survive, and drop each
 * signal, as Go's validSIGPROF does: a SIGPROF that no kernel timer raised
 * stands for no CPU time (tests/unit_prof_signal_storm.c checks that they
 * are counted as dropped).
 *
 * grt also arms a CPU timer for such threads, whose samples are exactly
 * {pc in foreign_spin, grt._ExternalCode}.  At 1 Hz it adds at most
 * 1 + (the thread's CPU seconds) of weight, so the weight in foreign_spin
 * must be at most that: more means the kills were recorded.  After
 * grt_prof_stop, one more signal must be ignored, not kill the process.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "pprof_raw.h"

#define NKILLS 20
#define HZ 1
#define WAIT_NS (20LL * 1000 * 1000 * 1000) /* for the thread to run on: a hang guard */

static _Atomic unsigned long spins;
static atomic_int stop;

__attribute__((noinline)) void foreign_spin(void) {
  while (!atomic_load_explicit(&stop, memory_order_relaxed))
    atomic_store_explicit(&spins, atomic_load_explicit(&spins, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void *foreign_thread(void *arg) {
  (void)arg;
  foreign_spin();
  return NULL;
}

/* Sends SIGPROF to t and waits until t has spun a million more times.  The
 * signal is pending once pthread_kill returns; the thread runs on only
 * until the kernel's wake-up (an IPI: microseconds) interrupts it, and then
 * handles the signal before running any more of its own code.  So after
 * that much progress the handler has run and returned. */
static void kill_and_wait(pthread_t t) {
  CHECK(pthread_kill(t, SIGPROF) == 0);
  unsigned long after = atomic_load(&spins);
  int64_t deadline = grt_nanotime() + WAIT_NS;
  while (atomic_load(&spins) < after + (1ul << 20)) {
    CHECK(grt_nanotime() < deadline);
    grt_sleep(1000 * 1000);
  }
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("no_m.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign_thread, NULL) == 0);
  while (atomic_load(&spins) == 0)
    grt_sleep(1000 * 1000);
  for (int i = 0; i < NKILLS; i++) {
    kill_and_wait(t);
    grt_sleep(2 * 1000 * 1000);
  }
  CHECK(grt_prof_stop() == 0);
  clockid_t cpu_clock;
  struct timespec cpu;
  CHECK(pthread_getcpuclockid(t, &cpu_clock) == 0 && clock_gettime(cpu_clock, &cpu) == 0);
  kill_and_wait(t); /* ignored now */
  atomic_store(&stop, 1);
  CHECK(join_thread(t) == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t n = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (!pprof_has_fn(&r, s, "foreign_spin")) continue;
    const char *const want[] = {"foreign_spin", "grt._ExternalCode", NULL};
    if (!pprof_stack_is(&r, s, want, 0)) {
      pprof_dump_sample(stderr, "want exactly {foreign_spin, grt._ExternalCode}", &r, s);
      CHECK(0);
    }
    n += s->count;
  }
  int64_t timer_max = 1 + cpu.tv_sec * HZ + (int64_t)cpu.tv_nsec * HZ / 1000000000;
  printf("weight %lld in foreign_spin after %d signals (timer: at most %lld)\n", (long long)n,
         NKILLS, (long long)timer_max);
  CHECK(n <= timer_max);
  pprof_free(&r);
  printf("prof_no_m: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return grt_main(run, argc, argv);
}
