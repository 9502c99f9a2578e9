/*
 * ext_nesting: grt_extcall and grt_callback nest 100 deep each way.  From
 * a goroutine the
 * chain is extcall -> callback -> extcall -> ... (200 frames, alternating);
 * from a foreign pthread it is callback -> extcall -> ...
 * Every frame checks grt_thread_state_get (ext_depth and cb_depth equal the
 * number of extcall and callback frames so far, in_external is 0, the M is
 * extra exactly on the foreign thread), callback frames yield and check that
 * they run as the same goroutine, and each frame returns its inner frame's
 * value plus one after checking it, so a lost or crossed return shows.
 * Before its first callback the foreign thread has no M; after the chain it
 * keeps its extra M with in_external 1 and both depths 0.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define DEPTH 100               /* extcall frames and callback frames, each */
#define BASE 1000               /* what the innermost frame returns */
#define BIG_STACK (1024 * 1024) /* the goroutine stack holds every callback frame */
/* A foreign thread's callbacks run on the extra M's 1 MiB goroutine stack;
 * each level of nesting puts about 420 bytes there (about 910 under ASan). */
#define FOREIGN_DEPTH DEPTH

/* One frame of a chain: frame i (1-based) of a chain of n frames started by
 * a goroutine (first frame an extcall) or by a foreign thread (first frame a
 * callback).  It returns BASE + (n - i). */
struct frame {
  int foreign;
  int n;
  int i;
  uint64_t goid; /* the goroutine every callback frame must run as (0: unknown yet) */
};

static int is_callback(const struct frame *f) {
  return f->foreign ? f->i % 2 == 1 : f->i % 2 == 0;
}

static void *frame_fn(void *arg) {
  struct frame *f = arg;
  int nb_ext = f->foreign ? f->i / 2 : (f->i + 1) / 2;
  int nb_cb = f->i - nb_ext;
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  if (st.ext_depth != nb_ext || st.cb_depth != nb_cb || !st.known || st.in_external ||
      st.is_extra != f->foreign) {
    fprintf(stderr, "frame %d (%s, %s): known %d extra %d in_external %d ext %d cb %d\n", f->i,
            f->foreign ? "foreign" : "goroutine", is_callback(f) ? "callback" : "extcall", st.known,
            st.is_extra, st.in_external, st.ext_depth, st.cb_depth);
    CHECK(0);
  }
  if (is_callback(f)) {
    if (!f->goid) f->goid = grt_id();
    CHECK(f->goid != 0 && grt_id() == f->goid);
    grt_yield();
    CHECK(grt_id() == f->goid);
  }
  if (f->i == f->n) return (void *)(intptr_t)BASE;

  struct frame inner = {f->foreign, f->n, f->i + 1, f->goid};
  void *r = is_callback(&inner) ? grt_callback(frame_fn, &inner) : grt_extcall(frame_fn, &inner);
  intptr_t want = BASE + (f->n - f->i - 1);
  if ((intptr_t)r != want) {
    fprintf(stderr, "frame %d: inner returned %ld, want %ld\n", f->i, (long)(intptr_t)r,
            (long)want);
    CHECK(0);
  }
  /* Back from the inner frame: this frame's depths again. */
  CHECK(grt_thread_state_get(&st) == 0);
  CHECK(st.ext_depth == nb_ext && st.cb_depth == nb_cb && !st.in_external);
  return (void *)(want + 1);
}

static grt_chan *done;

static void from_goroutine(void *arg) {
  (void)arg;
  struct frame first = {0, 2 * DEPTH, 1, grt_id()};
  void *r = grt_extcall(frame_fn, &first);
  CHECK((intptr_t)r == BASE + 2 * DEPTH - 1);
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  CHECK(st.known && !st.is_extra && !st.in_external && st.ext_depth == 0 && st.cb_depth == 0);
  printf("goroutine chain: %d frames, returned %ld\n", 2 * DEPTH, (long)(intptr_t)r);
  CHECK(grt_chan_send(done, NULL) == 0);
}

static void *foreign_thread(void *arg) {
  (void)arg;
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  CHECK(!st.known); /* no callback yet: no M */
  for (int round = 0; round < 3; round++) {
    struct frame first = {1, 2 * FOREIGN_DEPTH, 1, 0};
    void *r = grt_callback(frame_fn, &first);
    CHECK((intptr_t)r == BASE + 2 * FOREIGN_DEPTH - 1);
    CHECK(grt_thread_state_get(&st) == 0);
    CHECK(st.known && st.is_extra && st.in_external && st.ext_depth == 0 && st.cb_depth == 0);
  }
  printf("foreign chain: %d frames, 3 rounds\n", 2 * FOREIGN_DEPTH);
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  done = grt_chan_make(0, 0);
  CHECK(done);
  grt_go_opts opts = {.stack_size = BIG_STACK, .name = "nesting"};
  CHECK(grt_go_with(&opts, from_goroutine, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);

  /* The foreign chain's callback frames go on the callback goroutine's
   * default stack; the extcall frames on the pthread's own stack. */
  pthread_t tid;
  CHECK(pthread_create(&tid, NULL, foreign_thread, NULL) == 0);
  CHECK(join_thread(tid) == 0);
  printf("ext_nesting: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
