/*
 * prof_labels: profiler labels (Go's pprof.Do) reach exactly the samples
 * they should, read back with the real `go tool pprof -raw`.
 *
 * Part 1, at 1000 Hz: a goroutine burns in scope_outside, then inside
 * grt_prof_do({k=v}) burns in scope_inside, in external code called
 * through grt_extcall (scope_extcall), and in a child goroutine it starts
 * there (scope_child); then burns in scope_after.  Every sample of the
 * three inside functions carries exactly k:[v]; no sample of the two
 * outside ones carries any label.  Nested grt_prof_do adds to the labels.
 *
 * Part 2: 10 goroutines on 2 Ps keep making, applying (grt_prof_do, some
 * nested) and releasing label sets at 1000 Hz.  Nothing crashes, and every
 * labelled sample carries one of the sets the program actually used.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000

volatile unsigned long sink;

/* Callers do something after burn, so the call is not a tail call and the
 * caller's frame stays on the stack for the profile to see. */
static void burn(int64_t ns) {
  int64_t end = pprof_thread_cpu_ns() + ns;
  do {
    for (int i = 0; i < 20000; i++)
      sink += (unsigned long)i * 5 + 3;
  } while (pprof_thread_cpu_ns() < end);
}

#define BURN_NS (ASAN_SCALED(300, 200) * 1000000LL)

__attribute__((noinline)) void scope_outside(void) {
  burn(BURN_NS);
  sink++;
}
__attribute__((noinline)) void scope_inside(void) {
  burn(BURN_NS);
  sink++;
}
__attribute__((noinline)) void scope_after(void) {
  burn(BURN_NS);
  sink++;
}
__attribute__((noinline)) void scope_nested(void) {
  burn(BURN_NS);
  sink++;
}
__attribute__((noinline)) void *scope_extcall(void *arg) {
  (void)arg;
  burn(BURN_NS);
  sink++;
  return NULL;
}

static grt_wg child_done;
__attribute__((noinline)) void scope_child(void *arg) {
  (void)arg;
  burn(BURN_NS);
  sink++;
  grt_wg_done(&child_done);
}

static void nested_body(void *arg) {
  (void)arg;
  scope_nested();
}

static void labelled_body(void *arg) {
  (void)arg;
  scope_inside();
  grt_extcall(scope_extcall, NULL);
  grt_wg_add(&child_done, 1);
  CHECK(grt_go(scope_child, NULL) == 0);
  grt_wg_wait(&child_done);
  grt_labels *more = grt_labels_make("n", "2", NULL);
  CHECK(more);
  grt_prof_do(more, nested_body, NULL);
  grt_labels_release(more);
}

static grt_wg part1_done;
static void part1(void *arg) {
  (void)arg;
  scope_outside();
  grt_labels *l = grt_labels_make("k", "v", NULL);
  CHECK(l);
  grt_prof_do(l, labelled_body, NULL);
  grt_labels_release(l);
  scope_after();
  grt_wg_done(&part1_done);
}

/* The labels of every sample with fn in its stack must be want; returns
 * their count. */
static int64_t expect_labels(const struct pprof_raw *r, const char *fn, const char *want) {
  int64_t n = 0;
  for (int i = 0; i < r->nsamples; i++) {
    const struct pprof_sample *s = &r->samples[i];
    if (!pprof_has_fn(r, s, fn)) continue;
    if (strcmp(s->labels, want) != 0) {
      fprintf(stderr, "%s: labels \"%s\", want \"%s\"\n", fn, s->labels, want);
      pprof_dump_sample(stderr, "sample", r, s);
      CHECK(0);
    }
    n += s->count;
  }
  printf("%-14s %4lld samples, labels \"%s\"\n", fn, (long long)n, want);
  CHECK(n > 0);
  return n;
}

/* ---- part 2: churn ---- */

#define WORKERS 10
static grt_wg churn_done;

struct churn {
  int worker;
  int round;
};

static void churn_inner(void *arg) {
  (void)arg;
  burn(100000);
}

static void churn_body(void *arg) {
  struct churn *c = arg;
  burn(200000);
  if (c->round % 2 == 0) {
    grt_labels *inner = grt_labels_make("phase", "inner", NULL);
    CHECK(inner);
    grt_prof_do(inner, churn_inner, NULL);
    grt_labels_release(inner);
  }
}

static void churner(void *arg) {
  int worker = (int)(intptr_t)arg;
  int64_t end = pprof_thread_cpu_ns() + ASAN_SCALED(300, 150) * 1000000LL;
  for (int round = 0; pprof_thread_cpu_ns() < end; round++) {
    char w[16], rd[16];
    snprintf(w, sizeof w, "%d", worker);
    snprintf(rd, sizeof rd, "%d", round % 3);
    grt_labels *l = grt_labels_make("worker", w, "round", rd, NULL);
    CHECK(l);
    struct churn c = {worker, round};
    grt_prof_do(l, churn_body, &c);
    grt_labels_release(l);
    if (round % 4 == 0) grt_yield();
  }
  grt_wg_done(&churn_done);
}

/* Is labels (as -raw prints them) a set some churner used? */
static int churn_set(const char *labels) {
  for (int w = 0; w < WORKERS; w++)
    for (int rd = 0; rd < 3; rd++) {
      char plain[96], nested[128];
      snprintf(plain, sizeof plain, "round:[%d] worker:[%d]", rd, w);
      snprintf(nested, sizeof nested, "phase:[inner] round:[%d] worker:[%d]", rd, w);
      if (strcmp(labels, plain) == 0 || strcmp(labels, nested) == 0) return 1;
    }
  return 0;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[256];

  /* Part 1 */
  snprintf(path, sizeof path, "%s", pprof_path("labels.pb.gz"));
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  grt_wg_add(&part1_done, 1);
  CHECK(grt_go(part1, NULL) == 0);
  grt_wg_wait(&part1_done);
  CHECK(grt_prof_stop() == 0);
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  expect_labels(&r, "scope_outside", "");
  expect_labels(&r, "scope_after", "");
  expect_labels(&r, "scope_inside", "k:[v]");
  expect_labels(&r, "scope_extcall", "k:[v]");
  expect_labels(&r, "scope_child", "k:[v]");
  expect_labels(&r, "scope_nested", "k:[v] n:[2]");
  pprof_free(&r);

  /* Part 2 */
  snprintf(path, sizeof path, "%s", pprof_path("churn.pb.gz"));
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  grt_wg_add(&churn_done, WORKERS);
  for (int i = 0; i < WORKERS; i++)
    CHECK(grt_go(churner, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&churn_done);
  CHECK(grt_prof_stop() == 0);
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int64_t labelled = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (!s->labels[0]) continue;
    if (!churn_set(s->labels)) {
      pprof_dump_sample(stderr, "a label set nobody used", &r, s);
      CHECK(0);
    }
    labelled += s->count;
  }
  printf("churn: %lld labelled samples, all of sets in use\n", (long long)labelled);
  CHECK(labelled > 0);
  pprof_free(&r);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
