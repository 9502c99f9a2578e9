/*
 * api_sleep_forever: grt_sleep at the extremes of its argument.
 *   - INT64_MAX, INT64_MAX - 1 and a value just past what the clock can
 *     add (each overflows now + ns) sleep forever: still asleep after
 *     200 ms (before the fix the deadline wrapped negative and they woke at
 *     once; under UBSan the overflow aborted).  So does INT64_MAX / 2,
 *     which fits: 146 years.  Meanwhile the scheduler does not spin (the
 *     process uses well under the 200 ms of CPU it would burn spinning),
 *     and a 10 ms sleep alongside them still wakes on time.
 *   - 0, -1 and INT64_MIN only yield: they return at once.
 *   - Outside a goroutine (a plain pthread, nanosleep): INT64_MAX is still
 *     asleep after 200 ms; 0, -1 and INT64_MIN return at once.
 * The forever sleepers are left asleep: main's return ends the process.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "testutil.h"

#define WAIT_NS (200LL * 1000 * 1000)

struct sleeper {
  int64_t ns;
  atomic_int woke;
};

static void sleep_goroutine(void *arg) {
  struct sleeper *s = arg;
  grt_sleep(s->ns);
  atomic_store(&s->woke, 1);
}

static void *sleep_thread(void *arg) {
  struct sleeper *s = arg;
  grt_sleep(s->ns);
  atomic_store(&s->woke, 1);
  return NULL;
}

/* grt_sleep(ns) returns within 100 ms (it only yields). */
static void check_returns_at_once(int64_t ns, const char *where) {
  int64_t t0 = grt_nanotime();
  grt_sleep(ns);
  int64_t took = grt_nanotime() - t0;
  printf("%s: grt_sleep(%lld) returned after %.3f ms\n", where, (long long)ns, took / 1e6);
  CHECK(took < 100 * 1000 * 1000);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  static struct sleeper forever[] = {
      {.ns = INT64_MAX}, {.ns = INT64_MAX - 1}, {.ns = 0 /* set below */}, {.ns = INT64_MAX / 2}};
  /* Overflows now + ns by a second, whenever it is added. */
  forever[2].ns = INT64_MAX - grt_nanotime() + 1000000000LL;
  int n = (int)(sizeof forever / sizeof forever[0]);
  for (int i = 0; i < n; i++)
    CHECK(grt_go(sleep_goroutine, &forever[i]) == 0);
  static struct sleeper thread_forever = {.ns = INT64_MAX};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, sleep_thread, &thread_forever) == 0);
  CHECK(pthread_detach(t) == 0);

  int64_t cpu0 = process_cpu_ns();
  grt_sleep(WAIT_NS);
  int64_t cpu = process_cpu_ns() - cpu0;
  for (int i = 0; i < n; i++) {
    printf("grt_sleep(%lld) on a goroutine: %s after 200 ms\n", (long long)forever[i].ns,
           atomic_load(&forever[i].woke) ? "returned" : "still asleep");
    CHECK(!atomic_load(&forever[i].woke));
  }
  printf("grt_sleep(INT64_MAX) on a plain thread: %s after 200 ms\n",
         atomic_load(&thread_forever.woke) ? "returned" : "still asleep");
  CHECK(!atomic_load(&thread_forever.woke));
  printf("CPU used while they slept: %.1f ms\n", cpu / 1e6);
  CHECK(cpu < WAIT_NS / 2);

  /* Timers still work beside the forever ones. */
  int64_t t0 = grt_nanotime();
  grt_sleep(10 * 1000 * 1000);
  int64_t took = grt_nanotime() - t0;
  CHECK(took >= 10 * 1000 * 1000 && took < 2000LL * 1000 * 1000);

  const int64_t at_once[] = {0, -1, INT64_MIN};
  for (int i = 0; i < 3; i++)
    check_returns_at_once(at_once[i], "goroutine");
  struct sleeper quick[3];
  for (int i = 0; i < 3; i++) {
    quick[i] = (struct sleeper){.ns = at_once[i]};
    int64_t t1 = grt_nanotime();
    CHECK(pthread_create(&t, NULL, sleep_thread, &quick[i]) == 0);
    CHECK(join_thread(t) == 0);
    printf("plain thread: grt_sleep(%lld) returned after %.3f ms\n", (long long)at_once[i],
           (grt_nanotime() - t1) / 1e6);
    CHECK(atomic_load(&quick[i].woke));
    CHECK(grt_nanotime() - t1 < 1000LL * 1000 * 1000);
  }
  printf("api_sleep_forever: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
