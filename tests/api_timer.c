/*
 * api_timer: timers and tickers that are channels (grt_timer_make,
 * grt_ticker_make, grt_after), as Go's time.Timer, time.Ticker and
 * time.After.  Run with LeakSanitizer on: every timer and channel is freed.
 *   - a timer fires once, no earlier than asked, with the time it fired;
 *   - a timer stopped before it fires never fires (stop says 1), and one
 *     stopped after says 0;
 *   - reset moves a pending timer (it fires at the new time, not the old);
 *   - a ticker ticks, about its period apart, until stopped, then never;
 *   - grt_after works in a select against a channel that never gets a
 *     value, and frees its timer once fired;
 *   - 10^5 pending timers cost no goroutine and next to no CPU;
 *   - misuse: outside a goroutine, NULL, a ticker period of 0.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "testutil.h"

#define MS 1000000LL

static int64_t recv_time(grt_chan *c) {
  int64_t v = 0;
  CHECK(grt_chan_recv(c, &v) == 1);
  return v;
}

/* Is a value waiting (or coming within wait_ns)? */
static int fires_within(grt_chan *c, int64_t wait_ns) {
  grt_chan *after = grt_after(wait_ns);
  CHECK(after);
  int64_t v;
  grt_select_case cs[2] = {{.chan = c, .dir = GRT_RECV, .elem = &v},
                           {.chan = after, .dir = GRT_RECV, .elem = &v}};
  int r = grt_select(cs, 2, 1);
  grt_chan_release(after);
  return r == 0;
}

static void *foreign(void *arg) {
  (void)arg;
  errno = 0;
  CHECK(grt_timer_make(MS) == NULL && errno == EPERM);
  errno = 0;
  CHECK(grt_after(MS) == NULL && errno == EPERM);
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  /* Fires once, not early. */
  int64_t t0 = grt_nanotime();
  grt_timer *t = grt_timer_make(50 * MS);
  CHECK(t);
  int64_t fired = recv_time(grt_timer_chan(t));
  printf("timer of 50 ms fired after %.1f ms\n", (fired - t0) / 1e6);
  CHECK(fired - t0 >= 50 * MS && grt_nanotime() - t0 >= 50 * MS);
  CHECK(!fires_within(grt_timer_chan(t), 30 * MS)); /* once */
  CHECK(grt_timer_stop(t) == 0);                    /* fired already */
  grt_timer_free(t);

  /* Stopped before it fires: never fires. */
  t = grt_timer_make(30 * MS);
  CHECK(t && grt_timer_stop(t) == 1 && grt_timer_stop(t) == 0);
  CHECK(!fires_within(grt_timer_chan(t), 80 * MS));
  grt_timer_free(t);

  /* Reset moves it: from 1 s to 20 ms. */
  t0 = grt_nanotime();
  t = grt_timer_make(1000 * MS);
  CHECK(t && grt_timer_reset(t, 20 * MS) == 1);
  fired = recv_time(grt_timer_chan(t));
  printf("reset to 20 ms: fired after %.1f ms\n", (fired - t0) / 1e6);
  CHECK(fired - t0 >= 20 * MS && fired - t0 < 900 * MS);
  grt_timer_free(t);

  /* A ticker: 5 ticks about 10 ms apart, then stopped: no more. */
  t0 = grt_nanotime();
  grt_timer *tk = grt_ticker_make(10 * MS);
  CHECK(tk);
  int64_t last = t0;
  for (int i = 0; i < 5; i++) {
    int64_t v = recv_time(grt_timer_chan(tk));
    CHECK(v - t0 >= (i + 1) * 10 * MS - MS); /* ticks keep to the period */
    CHECK(v > last);
    last = v;
  }
  printf("ticker of 10 ms: 5 ticks in %.1f ms\n", (last - t0) / 1e6);
  CHECK(grt_timer_stop(tk) == 1);
  fires_within(grt_timer_chan(tk), 0); /* a tick that came before the stop */
  CHECK(!fires_within(grt_timer_chan(tk), 50 * MS));
  grt_timer_free(tk);

  /* grt_after in a select. */
  grt_chan *never = grt_chan_make(sizeof(int64_t), 0);
  CHECK(never);
  CHECK(!fires_within(never, 20 * MS));
  grt_chan_release(never);

  /* 10^5 pending timers: no goroutines, next to no CPU. */
  enum { N = 100000 };
  static grt_timer *many[N];
  grt_stats before, during;
  CHECK(grt_read_stats(&before) == 0);
  for (int i = 0; i < N; i++)
    CHECK((many[i] = grt_timer_make(3600 * 1000 * MS + i)));
  CHECK(grt_read_stats(&during) == 0);
  int64_t cpu0 = process_cpu_ns(), w0 = grt_nanotime();
  grt_sleep(200 * MS);
  int64_t cpu = process_cpu_ns() - cpu0, wall = grt_nanotime() - w0;
  printf("%d pending timers: goroutines %llu -> %llu; %.2f ms of CPU in %.0f ms\n", N,
         (unsigned long long)before.goroutines, (unsigned long long)during.goroutines, cpu / 1e6,
         wall / 1e6);
  CHECK(during.goroutines == before.goroutines);
  CHECK(cpu < 50 * MS);
  for (int i = 0; i < N; i++)
    grt_timer_free(many[i]);

  /* Misuse. */
  pthread_t th;
  CHECK(pthread_create(&th, NULL, foreign, NULL) == 0);
  CHECK(join_thread(th) == 0);
  errno = 0;
  CHECK(grt_ticker_make(0) == NULL && errno == EINVAL);
  CHECK(grt_timer_stop(NULL) == -EINVAL && grt_timer_reset(NULL, 1) == -EINVAL);
  CHECK(grt_timer_chan(NULL) == NULL);
  grt_timer_free(NULL);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
