/*
 * prof_unified: stacks are unified across grt_extcall and grt_callback.
 *
 * External code: goroutine g_outer calls grt_extcall(ext_burn), which burns
 * CPU in ext_burn_inner on the thread's system stack.  Its samples must read,
 * leaf first, ext_burn_inner, ext_burn, grt_extcall, g_outer, sched_gostart,
 * sched_goentry: the external frames, then the goroutine frames that called
 * grt_extcall (through grt_extcall itself), down to the goroutine's entry.
 *
 * A callback: goroutine g_outer2 calls grt_extcall(ext_mid), which calls
 * grt_callback(cb_burn), which burns in cb_burn_inner on the goroutine's
 * stack.  Its samples must read cb_burn_inner, cb_burn, ext_mid,
 * grt_extcall, g_outer2, sched_gostart, sched_goentry: across both
 * boundaries, outward.
 *
 * Frames of libgrt.so itself (trampolines, helpers) may come between these,
 * but nothing else may, and no pseudo-frame may appear: a walk that loses
 * a segment, repeats one or wanders into garbage fails.  The burning
 * function's caller is exactly its return address minus 1.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 500
#define BURN_NS (500LL * 1000 * 1000)

volatile unsigned long sink;
static grt_chan *done;

/* Where each inner function returns to: its caller's frame in a sample
 * must be exactly this address minus 1 (the call instruction's last byte,
 * so the caller's line is the call's). */
static uintptr_t ext_ret, cb_ret;

__attribute__((noinline)) void ext_burn_inner(void) {
  ext_ret = (uintptr_t)__builtin_return_address(0);
  for (int i = 0; i < 100000; i++)
    sink += (unsigned long)i * 3;
}

__attribute__((noinline)) void *ext_burn(void *arg) {
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do
    ext_burn_inner();
  while (pprof_thread_cpu_ns() < end);
  return arg;
}

__attribute__((noinline)) void g_outer(void *arg) {
  sink += (uintptr_t)grt_extcall(ext_burn, arg); /* not a tail call */
  CHECK(grt_chan_send(done, NULL) == 0);
}

__attribute__((noinline)) void cb_burn_inner(void) {
  cb_ret = (uintptr_t)__builtin_return_address(0);
  for (int i = 0; i < 100000; i++)
    sink ^= (unsigned long)i * 5 + 1;
}

__attribute__((noinline)) void *cb_burn(void *arg) {
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do
    cb_burn_inner();
  while (pprof_thread_cpu_ns() < end);
  return arg;
}

__attribute__((noinline)) void *ext_mid(void *arg) {
  void *r = grt_callback(cb_burn, arg);
  sink++; /* not a tail call */
  return r;
}

__attribute__((noinline)) void g_outer2(void *arg) {
  sink += (uintptr_t)grt_extcall(ext_mid, arg);
  CHECK(grt_chan_send(done, NULL) == 0);
}

/* The weight of the samples whose leaf is leaf, each checked against want. */
static int64_t check_leaf(const struct pprof_raw *r, const char *leaf, const char *const want[],
                          uintptr_t ret) {
  int glue = pprof_mapping_id(r, "libgrt.so");
  CHECK(glue > 0);
  int64_t n = 0;
  for (int i = 0; i < r->nsamples; i++) {
    const struct pprof_sample *s = &r->samples[i];
    if (!pprof_leaf_is(r, s, leaf)) continue;
    if (!pprof_stack_is(r, s, want, glue) || pprof_frame(r, s, 1)->addr != ret - 1) {
      fprintf(stderr, "caller's address: want %#lx\n", (unsigned long)(ret - 1));
      fprintf(stderr, "want:");
      for (int k = 0; want[k]; k++)
        fprintf(stderr, " %s", want[k]);
      fprintf(stderr, "\n");
      pprof_dump_sample(stderr, "a stack that is not unified", r, s);
      CHECK(0);
    }
    n += s->count;
  }
  return n;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  done = grt_chan_make(0, 0);
  CHECK(done);
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("unified.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  CHECK(grt_go(g_outer, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);
  CHECK(grt_go(g_outer2, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);
  CHECK(grt_prof_stop() == 0);

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  const char *const ext_want[] = {"ext_burn_inner", "ext_burn",      "grt_extcall", "g_outer",
                                  "sched_gostart",  "sched_goentry", NULL};
  const char *const cb_want[] = {"cb_burn_inner", "cb_burn",       "ext_mid",       "grt_extcall",
                                 "g_outer2",      "sched_gostart", "sched_goentry", NULL};
  int64_t ext = check_leaf(&r, "ext_burn_inner", ext_want, ext_ret);
  int64_t cb = check_leaf(&r, "cb_burn_inner", cb_want, cb_ret);
  printf("external code: %lld samples, callback: %lld samples, %lld in all\n", (long long)ext,
         (long long)cb, (long long)pprof_total_count(&r));
  /* 0.5 s of CPU each at 500 Hz: about 250 each. */
  CHECK(ext >= 20 && cb >= 20);
  pprof_free(&r);
  printf("prof_unified: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return grt_main(run, argc, argv);
}
