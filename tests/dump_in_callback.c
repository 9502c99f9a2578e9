/*
 * dump_in_callback: grt_dump of a goroutine parked inside a callback shows
 * the external code that called back, and below it the goroutine that made
 * the extcall (issue 11, "Dumps").  Two of them, parked in a channel
 * receive:
 *   - goroutine -> grt_extcall(ext_sorts) -> qsort (glibc, no frame
 *     pointers) -> by_value -> grt_callback(cb_waits) -> grt_chan_recv;
 *   - a thread grt did not create: foreign_thread -> grt_callback(cb_waits).
 * Each dump block must name cb_waits, then the external frames (qsort's
 * and by_value, or foreign_thread), then (the first) ext_sorts' caller
 * sorts_in_c, in that order.  Fails with the walk that stops at the
 * callback trampoline.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>

#include "testutil.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static grt_chan *never;
static _Atomic uint64_t parked_ids[2];
static _Atomic int nparked;

__attribute__((noinline)) static void *cb_waits(void *arg) {
  (void)arg;
  uint64_t id = grt_id();
  parked_ids[atomic_fetch_add(&nparked, 1)] = id;
  grt_chan_recv(never, NULL); /* closed at the end: wakes with -EPIPE */
  NO_TAIL_CALL();
  return NULL;
}

/* qsort's comparator: calls back once, from inside glibc's frames. */
static _Atomic int called_back;
__attribute__((noinline)) static int by_value(const void *a, const void *b) {
  if (!atomic_exchange(&called_back, 1)) grt_callback(cb_waits, NULL);
  NO_TAIL_CALL();
  return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void *ext_sorts(void *arg) {
  int *v = arg;
  qsort(v, 64, sizeof *v, by_value);
  NO_TAIL_CALL();
  return NULL;
}

__attribute__((noinline)) static void sorts_in_c(void *arg) {
  (void)arg;
  static int v[64];
  for (int i = 0; i < 64; i++)
    v[i] = (i * 37) % 64;
  grt_extcall(ext_sorts, v);
  NO_TAIL_CALL();
}

__attribute__((noinline)) static void *foreign_thread(void *arg) {
  (void)arg;
  grt_callback(cb_waits, NULL);
  NO_TAIL_CALL();
  return NULL;
}

static void *join_foreign(void *arg) {
  pthread_join(*(pthread_t *)arg, NULL);
  return NULL;
}

/* Does block b name each of fns[] as a frame ("\nfn("), in this order? */
static int in_order(const char *b, const char *const *fns, int n) {
  const char *at = b;
  for (int i = 0; i < n; i++) {
    char want[96];
    snprintf(want, sizeof want, "\n%s(", fns[i]);
    const char *f = strstr(at, want);
    if (!f) return 0;
    at = f + 1;
  }
  return 1;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  never = grt_chan_make(0, 0);
  CHECK(never);
  CHECK(grt_go(sorts_in_c, NULL) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, foreign_thread, NULL) == 0);

  char *d = NULL, *b[2] = {NULL, NULL};
  for (int tries = 0;; tries++) {
    grt_sleep(20 * 1000 * 1000);
    free(d);
    free(b[0]);
    free(b[1]);
    b[0] = b[1] = NULL;
    d = dump_to_string();
    if (atomic_load(&nparked) == 2) {
      b[0] = dump_block_of(d, parked_ids[0]);
      b[1] = dump_block_of(d, parked_ids[1]);
      if (b[0] && b[1] && strstr(b[0], "[chan receive") && strstr(b[1], "[chan receive")) break;
    }
    if (tries == 250) {
      fprintf(stderr, "not both parked after 5 s:\n%s\n", d);
      CHECK(0);
    }
  }
  /* Which block is which: the nested one has qsort's frames. */
  int nested = strstr(b[0], "\next_sorts(") ? 0 : 1;
  static const char *const via_qsort[] = {"cb_waits", "by_value", "ext_sorts", "sorts_in_c"};
  static const char *const via_thread[] = {"cb_waits", "foreign_thread"};
  if (!in_order(b[nested], via_qsort, 4) || !in_order(b[1 - nested], via_thread, 2)) {
    fprintf(stderr, "dump:\n%s\n", d);
    CHECK(0);
  }
  printf("parked in a callback under qsort:\n%s\nparked in a foreign thread's callback:\n%s\n",
         b[nested], b[1 - nested]);
  free(d);
  free(b[0]);
  free(b[1]);
  grt_chan_close(never);
  grt_extcall(join_foreign, &t);
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
