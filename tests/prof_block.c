/*
 * prof_block: the block profile holds where goroutines waited, for how
 * long, and stays unbiased when it samples (issue 14).  Read back with the
 * real `go tool pprof -raw`.
 *   1. rate 1 (every event): `waiter` receives 10 times from a channel a
 *      sender fills every 200 ms.  Its samples (contentions/count,
 *      delay/nanoseconds) hold about 2 s of delay (the waiter's own
 *      measurement, within 10%), with grt_chan_recv as the leaf under it.
 *      The sender's sleeps are not blocking and are not there.
 *   2. rate 100 ms, the same with `waiter_long`: 200 ms events are all
 *      kept, at their true delay.
 *   3. rate 2 ms, `waiter_short`: 0.2..1 ms waits, each kept with
 *      probability d / rate and weighted rate / d: the total delay still
 *      matches what the waiter measured, within 10%.
 * Also: grt_block_profile_write(-1) is -EBADF with one line.  Skipped
 * without go.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>

#include "testutil.h"
#include "pprof_raw.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

struct run {
  grt_chan *c;
  int n;
  int64_t gap_ns; /* sender's sleep between sends */
  int64_t waited; /* ns the receiver measured in grt_chan_recv */
  grt_wg done;
};

static void sender(void *arg) {
  struct run *r = arg;
  for (int i = 0; i < r->n; i++) {
    int64_t gap = r->gap_ns ? r->gap_ns : 200000 + (int64_t)(i % 5) * 200000;
    grt_sleep(gap);
    int v = i;
    CHECK(grt_chan_send(r->c, &v) == 0);
  }
  grt_wg_done(&r->done);
}

static void receive_all(struct run *r) {
  for (int i = 0; i < r->n; i++) {
    int v;
    int64_t t0 = grt_nanotime();
    CHECK(grt_chan_recv(r->c, &v) == 1);
    r->waited += grt_nanotime() - t0;
  }
}

__attribute__((noinline)) static void waiter(void *arg) {
  receive_all(arg);
  grt_wg_done(&((struct run *)arg)->done);
  NO_TAIL_CALL();
}
__attribute__((noinline)) static void waiter_long(void *arg) {
  receive_all(arg);
  grt_wg_done(&((struct run *)arg)->done);
  NO_TAIL_CALL();
}
__attribute__((noinline)) static void waiter_short(void *arg) {
  receive_all(arg);
  grt_wg_done(&((struct run *)arg)->done);
  NO_TAIL_CALL();
}

static int64_t run(void (*fn)(void *), int n, int64_t gap_ns) {
  struct run r = {.c = grt_chan_make(sizeof(int), 0), .n = n, .gap_ns = gap_ns};
  CHECK(r.c);
  grt_wg_add(&r.done, 2);
  CHECK(grt_go(fn, &r) == 0);
  CHECK(grt_go(sender, &r) == 0);
  grt_wg_wait(&r.done);
  grt_chan_free(r.c);
  return r.waited;
}

/* Delay and contentions of the samples with fn in their stack; *leaf_ok:
 * each of them has grt_chan_recv as its leaf. */
static int64_t delay_under(const struct pprof_raw *p, const char *fn, int64_t *count,
                           int *leaf_ok) {
  int64_t d = 0;
  *count = 0;
  *leaf_ok = 1;
  for (int i = 0; i < p->nsamples; i++) {
    const struct pprof_sample *s = &p->samples[i];
    if (pprof_find_fn(p, s, fn, 0) < 0) continue;
    d += s->cpu;
    *count += s->count;
    if (!pprof_loc_has_fn(pprof_frame(p, s, 0), "grt_chan_recv")) *leaf_ok = 0;
  }
  return d;
}

static void check(const char *fn, int64_t measured, int64_t want_count_lo, int64_t want_count_hi) {
  const char *path = pprof_path("block.pb.gz");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  CHECK(grt_block_profile_write(fd) == 0);
  CHECK(close(fd) == 0);
  struct pprof_raw p;
  pprof_load(path, &p);
  CHECK(strcmp(p.types, "contentions/count delay/nanoseconds") == 0);
  int64_t count;
  int leaf_ok;
  int64_t d = delay_under(&p, fn, &count, &leaf_ok);
  printf("%-13s measured %8.3f ms, profile %8.3f ms (%+.1f%%), %lld contentions\n", fn,
         measured / 1e6, d / 1e6, 100.0 * ((double)d - (double)measured) / (double)measured,
         (long long)count);
  CHECK(d > measured * 0.9 && d < measured * 1.1);
  CHECK(count >= want_count_lo && count <= want_count_hi);
  CHECK(leaf_ok);
  /* Sleeps are not blocking events. */
  for (int i = 0; i < p.nsamples; i++)
    CHECK(pprof_find_fn(&p, &p.samples[i], "grt_sleep", 0) < 0);
  pprof_free(&p);
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  pprof_skip_without_go();
  grt_set_block_profile_rate(1);
  check("waiter", run(waiter, 10, 200000000), 10, 10);
  grt_set_block_profile_rate(100000000);
  check("waiter_long", run(waiter_long, 10, 200000000), 10, 10);
  grt_set_block_profile_rate(2000000);
  /* 0.2..1 ms waits: about a third are kept; contentions are scaled back. */
  check("waiter_short", run(waiter_short, 3000, 0), 2000, 4500);
  grt_set_block_profile_rate(0);

  ONE_LINE("grt_block_profile_write", CHECK(grt_block_profile_write(-1) == -EBADF));
  pprof_tmpdir_remove();
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
