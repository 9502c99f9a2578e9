/*
 * live_stress_prof: handing off stuck Ps under the profiler at 1000 Hz,
 * for 10 s (4 s under ASan), on 2 Ps.  At once: goroutines that hog their
 * thread (CPU loops of 15-30 ms without calling grt), that block it in raw
 * system calls (usleep 15 ms), that yield, that make extcalls, and foreign
 * threads that call back; all of them send numbered messages over channels
 * to consumers.  Then:
 *   - every message was received exactly once, and nothing deadlocked;
 *   - Ps were handed off (grt_read_stats) and all came back;
 *   - no sample was unwound mid-switch: a sample whose leaf is in a switch
 *     routine is exactly {pc, grt._System};
 *   - a sample taken while a handed-off goroutine ran its loop without a P
 *     is its own goroutine stack: hog_loop ... down to sched_goentry.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000
#define RUN_NS ASAN_SCALED(10000000000LL, 4000000000LL)
#define PRODUCERS 8        /* goroutines: 2 hog, 2 block, 2 yield, 2 extcall */
#define FOREIGN 4          /* threads calling back */
#define MAX_MSGS (1 << 23) /* the run ends early if they are all sent */

static grt_chan *msgs;
static _Atomic int stop;
static _Atomic uint8_t seen[MAX_MSGS]; /* receipts per message number */
static _Atomic uint32_t next_id;
static _Atomic long dupes;
static grt_wg producers, consumers;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t xorshift(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* Exported (-rdynamic) so that the profile check can find it by name. */
__attribute__((noinline)) void hog_loop(int64_t ns) {
  volatile uint64_t spins = 0;
  for (int64_t end = now_ns() + ns; now_ns() < end;)
    spins++;
}

static void *ext_work(void *arg) {
  uint32_t *s = arg;
  volatile uint64_t x = 0;
  for (uint32_t i = 0, n = 1000 + xorshift(s) % 20000; i < n; i++)
    x += i;
  return NULL;
}

/* One message, numbered; 1 (nothing sent, the run stops) once every
 * number is used. */
static int send_one(void) {
  uint32_t id = atomic_fetch_add(&next_id, 1);
  if (id >= MAX_MSGS) {
    atomic_store(&stop, 1);
    return 1;
  }
  return grt_chan_send(msgs, &id);
}

static void producer(void *arg) {
  int kind = (int)(intptr_t)arg % 4;
  uint32_t s = 0x9e3779b9u * (uint32_t)((intptr_t)arg + 1);
  while (!atomic_load(&stop)) {
    switch (kind) {
    case 0: /* a hog: its P is handed off */
      hog_loop(15000000 + xorshift(&s) % 15000000);
      break;
    case 1: /* a raw blocking call */
      usleep(15000);
      break;
    case 2:
      for (int i = 0; i < 100; i++)
        grt_yield();
      break;
    case 3:
      grt_extcall(ext_work, &s);
      break;
    }
    for (int i = 0; i < 50; i++)
      CHECK(send_one() >= 0);
  }
  grt_wg_done(&producers);
}

static void *callback_send(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++)
    CHECK(send_one() >= 0);
  return NULL;
}

static void *foreign(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    usleep(200);
    grt_callback(callback_send, NULL);
  }
  return NULL;
}

static void consumer(void *arg) {
  (void)arg;
  uint32_t id;
  while (grt_chan_recv(msgs, &id) == 1) {
    CHECK(id < MAX_MSGS);
    if (atomic_fetch_add(&seen[id], 1) != 0) atomic_fetch_add(&dupes, 1);
  }
  grt_wg_done(&consumers);
}

static int in_switch_code(uint64_t pc) {
  const grt_code_range *ranges;
  int n = grt_switch_ranges(&ranges);
  for (int i = 0; i < n; i++)
    if (pc >= ranges[i].start && pc < ranges[i].end) return 1;
  return 0;
}

static void check_profile(const char *path) {
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t mid_switch = 0, hog = 0;
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
    }
    /* The hog's own loop (not a vDSO leaf whose caller the walk skips). */
    if (pprof_loc_has_fn(leaf, "hog_loop")) {
      if (!pprof_loc_has_fn(pprof_frame(&r, s, s->nlocs - 1), "sched_goentry")) {
        pprof_dump_sample(stderr, "a hog sample that is not its goroutine's stack", &r, s);
        CHECK(0);
      }
      hog += s->count;
    }
  }
  printf("profile: %lld samples, %lld in switch routines (each {pc, grt._System}), %lld in "
         "hog_loop (each a whole goroutine stack)\n",
         (long long)pprof_total_count(&r), (long long)mid_switch, (long long)hog);
  CHECK(hog > 0);
  pprof_free(&r);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("stress.pb.gz"));
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  msgs = grt_chan_make(sizeof(uint32_t), 64);
  CHECK(msgs);
  grt_wg_add(&consumers, 2);
  for (int i = 0; i < 2; i++)
    CHECK(grt_go(consumer, NULL) == 0);
  grt_wg_add(&producers, PRODUCERS);
  for (int i = 0; i < PRODUCERS; i++)
    CHECK(grt_go(producer, (void *)(intptr_t)i) == 0);
  pthread_t t[FOREIGN];
  for (int i = 0; i < FOREIGN; i++)
    CHECK(pthread_create(&t[i], NULL, foreign, NULL) == 0);
  for (int64_t end = grt_nanotime() + RUN_NS; grt_nanotime() < end && !atomic_load(&stop);)
    grt_sleep(10000000);
  atomic_store(&stop, 1);
  for (int i = 0; i < FOREIGN; i++)
    CHECK(join_thread(t[i]) == 0);
  grt_wg_wait(&producers);
  CHECK(grt_chan_close(msgs) == 0);
  grt_wg_wait(&consumers);
  CHECK(grt_prof_stop() == 0);

  /* The stats first: the count below runs without calling grt for long
   * enough (millions of messages, under ASan on a loaded machine) that
   * sysmon may hand off this goroutine's own P meanwhile, and it would
   * count as still without one.  And a goroutine comes back at its next
   * grt call: one handed off between its last grt call and its exit (its
   * thread descheduled there for 10 ms) may not have made it yet, so
   * they get up to a second. */
  grt_stats st;
  for (int i = 0; i < 1000; i++) {
    CHECK(grt_read_stats(&st) == 0);
    if (st.running_without_p == 0) break;
    grt_sleep(1000000);
  }
  uint32_t sent = atomic_load(&next_id);
  if (sent > MAX_MSGS) sent = MAX_MSGS;
  long missing = 0;
  for (uint32_t i = 0; i < sent; i++)
    missing += atomic_load(&seen[i]) == 0;
  printf("%u messages, %ld missing, %ld received twice; %llu handoffs, %llu still without a P\n",
         sent, missing, atomic_load(&dupes), (unsigned long long)st.handoffs,
         (unsigned long long)st.running_without_p);
  CHECK(missing == 0 && atomic_load(&dupes) == 0);
  CHECK(st.handoffs > 0 && st.running_without_p == 0);
  check_profile(path);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
