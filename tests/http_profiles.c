/*
 * http_profiles: /debug/pprof/block, /mutex and /wall, read by the real
 * `go tool pprof` from the URL (issue 14).  Goroutines keep blocking on a
 * channel (in `http_waiter`) and contending a grt_mutex (released in
 * `http_unlocks`) while the block and mutex profiles are off:
 *   - block?seconds=2 and mutex?seconds=2 turn them on for those seconds
 *     (rate 1 when off) and hold those functions; afterwards they are off
 *     again, as the program had them;
 *   - block (no seconds) is everything recorded so far;
 *   - wall?seconds=1 has http_waiter in state=chan receive;
 *   - bad debug, seconds, rate and hz values get 400 with a message;
 *     a second wall request while one runs gets 500 "already in use".
 * Skipped without go, and without the server (-DGRT_HTTP=OFF).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>

#include "testutil.h"
#include "pprof_raw.h"
#include "httpclient.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static atomic_int stop;
static grt_chan *ch;
static grt_mutex mu = GRT_MUTEX_INIT;
static grt_wg wg;

__attribute__((noinline)) static void http_waiter(void *arg) {
  (void)arg;
  while (grt_chan_recv(ch, NULL) == 1) {
  }
  grt_wg_done(&wg);
  NO_TAIL_CALL();
}

static void feeder(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    grt_sleep(5000000);
    grt_chan_send(ch, NULL);
  }
  grt_chan_close(ch);
  grt_wg_done(&wg);
}

__attribute__((noinline)) static void http_unlocks(void) {
  grt_mutex_unlock(&mu);
  NO_TAIL_CALL();
}

static void contender(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    grt_mutex_lock(&mu);
    grt_sleep(500000);
    http_unlocks();
  }
  grt_wg_done(&wg);
}

/* The -raw output has a sample with fn (and label, if any). */
struct fetch {
  const char *url;
  char *out;
};

static void *fetch_run(void *arg) {
  struct fetch *f = arg;
  /* pprof gives a URL with seconds=N only 1.5 N to answer: the profile is
   * symbolized after those N seconds, which takes longer under ASan. */
  f->out = pprof_run("-raw -timeout=120", f->url);
  return NULL;
}

static void expect_profile(const char *path, const char *types, const char *fn, const char *label) {
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  struct fetch f = {url, NULL};
  grt_extcall(fetch_run, &f);
  char *out = f.out;
  struct pprof_raw r;
  pprof_parse_raw(out, &r);
  free(out);
  int64_t n = 0;
  for (int i = 0; i < r.nsamples; i++)
    if (pprof_find_fn(&r, &r.samples[i], fn, 0) >= 0 &&
        (!label || strstr(r.samples[i].labels, label)))
      n += r.samples[i].count;
  printf("%s: %s, %lld under %s\n", path, r.types, (long long)n, fn);
  CHECK(strcmp(r.types, types) == 0);
  CHECK(n > 0);
  pprof_free(&r);
}

static void *join(void *arg) {
  pthread_join(*(pthread_t *)arg, NULL);
  return NULL;
}

static void *slow_wall(void *arg) {
  struct exchange *x = arg;
  get(x, "/debug/pprof/wall?seconds=2&hz=50");
  return NULL;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  pprof_skip_without_go();
  port = free_port();
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  int err = grt_pprof_serve(addr);
  if (err == -ENOTSUP) {
    printf("SKIP: built without the /debug/pprof server\n");
    return 77;
  }
  CHECK(err == 0);
  ch = grt_chan_make(0, 0);
  grt_wg_add(&wg, 4);
  CHECK(grt_go(http_waiter, NULL) == 0);
  CHECK(grt_go(feeder, NULL) == 0);
  CHECK(grt_go(contender, NULL) == 0);
  CHECK(grt_go(contender, NULL) == 0);

  CHECK(grt_set_mutex_profile_fraction(-1) == 0); /* both off */
  expect_profile("/debug/pprof/block?seconds=2", "contentions/count delay/nanoseconds",
                 "http_waiter", NULL);
  expect_profile("/debug/pprof/mutex?seconds=2&rate=1", "contentions/count delay/nanoseconds",
                 "http_unlocks", NULL);
  CHECK(grt_set_mutex_profile_fraction(-1) == 0); /* off again */
  expect_profile("/debug/pprof/block", "contentions/count delay/nanoseconds", "http_waiter", NULL);
  expect_profile("/debug/pprof/wall?seconds=1", "samples/count wall/nanoseconds", "http_waiter",
                 "state:[chan receive]");

  struct exchange x = {0};
  expect(&x, "/debug/pprof/block?debug=1", 400, "debug");
  expect(&x, "/debug/pprof/block?seconds=-1", 400, "seconds");
  expect(&x, "/debug/pprof/mutex?rate=0", 400, "rate");
  expect(&x, "/debug/pprof/wall?hz=5000", 400, "hz");
  expect(&x, "/debug/pprof/wall?seconds=abc", 400, "seconds");
  /* Busy: one wall profile at a time. */
  struct exchange slow = {0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, slow_wall, &slow) == 0);
  grt_sleep(500000000);
  expect(&x, "/debug/pprof/wall?seconds=1", 500, "wall profiling already in use");
  grt_extcall(join, &t);
  CHECK(slow.status == 200);
  free(slow.reply);
  free(x.reply);

  atomic_store(&stop, 1);
  grt_wg_wait(&wg);
  pprof_tmpdir_remove();
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
