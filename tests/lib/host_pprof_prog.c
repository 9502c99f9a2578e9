/*
 * host_pprof_prog: the program tests/host_pprof.sh profiles.  It writes a
 * CPU profile (100 Hz) to argv[1] while a goroutine burns 1 s of its
 * thread's CPU in host_pprof_hot, called from host_pprof_caller; the
 * script reads the profile with the host's `go tool pprof`.  In a cross
 * build it runs under the emulator: the profile is the target's.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <time.h>

#define BURN_NS 1000000000LL

volatile unsigned long host_pprof_sink;
static grt_wg done;

static long long thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return -1;
  return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time, not wall time: a loaded machine or an emulator makes it
 * slower, not shorter. */
__attribute__((noinline)) void host_pprof_hot(long long end) {
  while (thread_cpu_ns() < end)
    for (int i = 0; i < 100000; i++)
      host_pprof_sink += (unsigned long)i * 7;
}

__attribute__((noinline)) void host_pprof_caller(void *arg) {
  (void)arg;
  host_pprof_hot(thread_cpu_ns() + BURN_NS);
  grt_wg_done(&done);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static int run(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: host_pprof_prog PROFILE\n");
    return 2;
  }
  int err = grt_prof_start(&(grt_prof_config){.path = argv[1], .hz = 100});
  if (err != 0) {
    fprintf(stderr, "host_pprof_prog: grt_prof_start: %d\n", err);
    return 1;
  }
  grt_wg_add(&done, 1);
  if (grt_go(host_pprof_caller, NULL) != 0) return 1;
  grt_wg_wait(&done);
  err = grt_prof_stop();
  if (err != 0) {
    fprintf(stderr, "host_pprof_prog: grt_prof_stop: %d\n", err);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
