/*
 * prof_switch: the profiler never unwinds a half-done switch (Go's
 * TestGoroutineSwitch).  Goroutine switches are profiled hard at 1000 Hz:
 * one goroutine yielding 10^7 times, then two goroutines ping-ponging 10^6
 * round trips over unbuffered channels, on 1 P and again on 2 Ps (each in
 * a child process).  In a switch routine (grt_switch_ranges) TLS g, SP and
 * FP disagree, so every sample whose leaf is in one must be exactly
 * {pc, grt._System}.  Every other sample must be well formed: either it
 * ends in a pseudo-frame, or its walk reached the goroutine's entry
 * (sched_goentry, the outermost frame) -- a walk that started from a torn
 * state ends anywhere else.  (That is checked where the leaf is in code
 * built with frame pointers: this program and libgrt.so.)  Each profile must have enough samples
 * for this to mean something.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000
#define YIELDS ASAN_SCALED(10000000, 2000000)
#define ROUND_TRIPS ASAN_SCALED(1000000, 200000)
#define MIN_SAMPLES 30

static grt_chan *ping, *pong;
static grt_wg done;

static void yielder(void *arg) {
  (void)arg;
  for (long i = 0; i < YIELDS; i++)
    grt_yield();
  grt_wg_done(&done);
}

static void pinger(void *arg) {
  (void)arg;
  for (long i = 0; i < ROUND_TRIPS; i++) {
    CHECK(grt_chan_send(ping, &i) == 0);
    long got;
    CHECK(grt_chan_recv(pong, &got) == 1 && got == i);
  }
  CHECK(grt_chan_close(ping) == 0);
  grt_wg_done(&done);
}

static void ponger(void *arg) {
  (void)arg;
  long v;
  while (grt_chan_recv(ping, &v) == 1)
    CHECK(grt_chan_send(pong, &v) == 0);
  grt_wg_done(&done);
}

static int in_switch_code(uint64_t pc) {
  const grt_code_range *ranges;
  int n = grt_switch_ranges(&ranges);
  for (int i = 0; i < n; i++)
    if (pc >= ranges[i].start && pc < ranges[i].end) return 1;
  return 0;
}

/* Profiles what the goroutines started by start do, and checks it. */
static void profile(const char *what, void (*start)(void)) {
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("switch.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  start();
  grt_wg_wait(&done);
  CHECK(grt_prof_stop() == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  static char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(len > 0);
  exe[len] = 0;
  int exe_map = pprof_mapping_id(&r, exe), grt_map = pprof_mapping_id(&r, "libgrt.so");
  CHECK(exe_map > 0 && grt_map > 0);
  int64_t mid_switch = 0, system = 0, unchecked = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    const struct pprof_loc *leaf = pprof_frame(&r, s, 0);
    const char *pseudo = pprof_pseudo_name(pprof_frame(&r, s, s->nlocs - 1));
    if (in_switch_code(leaf->addr)) {
      if (s->nlocs != 2 || !pseudo || strcmp(pseudo, "grt._System") != 0) {
        pprof_dump_sample(stderr, "leaf in a switch routine, but not {pc, grt._System}", &r, s);
        CHECK(0);
      }
      mid_switch += s->count;
    } else if (!pseudo && leaf->mapping != exe_map && leaf->mapping != grt_map) {
      /* A leaf in code without frame pointers (libc, the sanitizers'
       * runtime) may hold anything in RBP: the walk can stop early. */
      unchecked += s->count;
    } else if (!pseudo && !pprof_loc_has_fn(pprof_frame(&r, s, s->nlocs - 1), "sched_goentry")) {
      pprof_dump_sample(stderr, "a goroutine stack that does not end at sched_goentry", &r, s);
      CHECK(0);
    }
    if (pseudo && strcmp(pseudo, "grt._System") == 0) system += s->count;
  }
  int64_t total = pprof_total_count(&r);
  printf("%s on %d P: %lld samples, %lld under grt._System, %lld in switch routines, %lld with "
         "a leaf outside grt and this program\n",
         what, grt_maxprocs(), (long long)total, (long long)system, (long long)mid_switch,
         (long long)unchecked);
  CHECK(total >= MIN_SAMPLES);
  pprof_free(&r);
}

static void start_yielder(void) {
  grt_wg_add(&done, 1);
  CHECK(grt_go(yielder, NULL) == 0);
}

static void start_ping_pong(void) {
  ping = grt_chan_make(sizeof(long), 0);
  pong = grt_chan_make(sizeof(long), 0);
  CHECK(ping && pong);
  grt_wg_add(&done, 2);
  CHECK(grt_go(ponger, NULL) == 0);
  CHECK(grt_go(pinger, NULL) == 0);
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  profile("yield", start_yielder);
  profile("ping-pong", start_ping_pong);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0)
    return main_with_procs(argv[2], child, argc, argv);
  pprof_skip_without_go();
  const char *procs[] = {"1", "2"};
  for (int i = 0; i < 2; i++) {
    const char *const args[] = {"child", procs[i], NULL};
    int status = run_self(args, NULL, NULL, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fprintf(stderr, "child on %s P: wait status %#x\n", procs[i], status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  printf("prof_switch: ok\n");
  return 0;
}
