/*
 * prof_nested_cb: CPU in a callback on a foreign thread is goroutine code,
 * also after a nested callback has returned (Go's TestCgoCallbackPprof,
 * and Go issue #72870, where the nested return marked the thread external
 * again and its samples went to _ExternalCode).
 *
 * Depth 1: a pthread grt never created calls grt_callback(cb1); cb1 calls
 * cb1_callee, which calls grt_extcall(c_fn), and c_fn calls
 * grt_callback(cb2), which returns at once.  Then cb1_callee burns 1 s of
 * CPU at 1000 Hz.  Every sample whose leaf is cb1_callee must have cb1 as
 * its next frame, then (further out) the thread function that called
 * grt_callback, and no pseudo-frame; and there must be enough of them.
 *
 * Depth 10: the thread calls back, the callback calls out, and so on ten
 * callbacks deep; the innermost callback's callee makes the same quick
 * extcall -> callback round trip and burns.  Its samples must have the
 * callback function as the next frame and no grt._ExternalCode (nor
 * grt._System); all ten callback frames appear unless the stack was cut
 * at 64 frames (then marked grt._Truncated).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000
#define BURN_NS (1000LL * 1000 * 1000)
#define DEEP 10

volatile unsigned long sink;

__attribute__((noinline)) void *cb2(void *arg) {
  return arg;
}

__attribute__((noinline)) void *c_fn(void *arg) {
  void *r = grt_callback(cb2, arg);
  sink++; /* not a tail call */
  return r;
}

/* The nested round trip, then the burn, in the caller's callback frame. */
__attribute__((noinline)) void cb1_callee(void) {
  CHECK(grt_extcall(c_fn, (void *)&sink) == (void *)&sink);
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    for (int i = 0; i < 100000; i++)
      sink += (unsigned long)i * 3;
  } while (pprof_thread_cpu_ns() < end);
}

__attribute__((noinline)) void *cb1(void *arg) {
  cb1_callee();
  sink++;
  return arg;
}

__attribute__((noinline)) void *nested_thread(void *arg) {
  CHECK(grt_callback(cb1, arg) == arg);
  sink++;
  return NULL;
}

/* ---- depth 10 ---- */

__attribute__((noinline)) void deep_callee(void) {
  CHECK(grt_extcall(c_fn, (void *)&sink) == (void *)&sink);
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    for (int i = 0; i < 100000; i++)
      sink ^= (unsigned long)i * 5 + 1;
  } while (pprof_thread_cpu_ns() < end);
}

void *cb_level(void *arg);

/* External code between two callback levels. */
__attribute__((noinline)) void *ext_level(void *arg) {
  void *r = grt_callback(cb_level, arg);
  sink++;
  return r;
}

/* Callback level *arg (1 = outermost). */
__attribute__((noinline)) void *cb_level(void *arg) {
  int level = *(int *)arg;
  if (level == DEEP) {
    deep_callee();
  } else {
    int next = level + 1;
    CHECK(grt_extcall(ext_level, &next) == &next);
  }
  sink++;
  return arg;
}

__attribute__((noinline)) void *deep_thread(void *arg) {
  (void)arg;
  int level = 1;
  CHECK(grt_callback(cb_level, &level) == &level);
  sink++;
  return NULL;
}

/* ---- running and checking ---- */

static void profile_thread(void *(*fn)(void *), const char *path) {
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fn, NULL) == 0);
  CHECK(join_thread(t) == 0);
  CHECK(grt_prof_stop() == 0);
}

static void check_depth1(const char *path) {
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t n = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (!pprof_leaf_is(&r, s, "cb1_callee")) continue;
    if (!pprof_loc_has_fn(pprof_frame(&r, s, 1), "cb1") ||
        pprof_find_fn(&r, s, "nested_thread", 2) < 0 ||
        pprof_pseudo_name(pprof_frame(&r, s, s->nlocs - 1))) {
      pprof_dump_sample(stderr, "want cb1_callee <- cb1 <- ... <- nested_thread, no pseudo-frame",
                        &r, s);
      CHECK(0);
    }
    n += s->count;
  }
  printf("depth 1: %lld samples in cb1_callee of %lld\n", (long long)n,
         (long long)pprof_total_count(&r));
  CHECK(n >= 20);
  pprof_free(&r);
}

static void check_depth10(const char *path) {
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t n = 0, truncated = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (!pprof_leaf_is(&r, s, "deep_callee")) continue;
    int cut = pprof_ends_with(&r, s, "grt._Truncated");
    int levels = 0;
    for (int at = pprof_find_fn(&r, s, "cb_level", 1); at >= 0;
         at = pprof_find_fn(&r, s, "cb_level", at + 1))
      levels++;
    if (!pprof_loc_has_fn(pprof_frame(&r, s, 1), "cb_level") ||
        (pprof_pseudo_name(pprof_frame(&r, s, s->nlocs - 1)) && !cut) ||
        (cut ? levels > DEEP : levels != DEEP || pprof_find_fn(&r, s, "deep_thread", 1) < 0)) {
      pprof_dump_sample(stderr, "want deep_callee <- cb_level, ten levels, no _ExternalCode", &r,
                        s);
      CHECK(0);
    }
    truncated += cut ? s->count : 0;
    n += s->count;
  }
  printf("depth %d: %lld samples in deep_callee (%lld truncated) of %lld\n", DEEP, (long long)n,
         (long long)truncated, (long long)pprof_total_count(&r));
  CHECK(n >= 20);
  pprof_free(&r);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char p1[256], p10[256];
  snprintf(p1, sizeof p1, "%s", pprof_path("depth1.pb.gz"));
  snprintf(p10, sizeof p10, "%s", pprof_path("depth10.pb.gz"));
  profile_thread(nested_thread, p1);
  profile_thread(deep_thread, p10);
  check_depth1(p1);
  check_depth10(p10);
  printf("prof_nested_cb: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return grt_main(run, argc, argv);
}
