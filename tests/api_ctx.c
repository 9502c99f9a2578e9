/*
 * api_ctx: cancellation contexts (grt_ctx_*), as Go's context package.
 * Run with LeakSanitizer on: every context and done channel is freed.
 *   - background: never done, no deadline, its done channel never ready;
 *   - cancel: the done channel closes, err is -ECANCELED, a second cancel
 *     says 0; a parent's cancel reaches every descendant (three levels),
 *     a child's cancel leaves its parent and siblings live;
 *   - deadline: a context times out (-ETIMEDOUT) no earlier than asked,
 *     and takes the earlier of its own and its parent's deadline; a parent's
 *     deadline times out its children; a deadline in the past, or a done
 *     parent, gives a context born done;
 *   - references: a retained context outlives grt_ctx_free (done, still
 *     readable); the last release of a live context cancels its children;
 *     a freed context's pending timer never fires on freed memory (many
 *     contexts freed just as their deadlines pass);
 *   - misuse: NULL everywhere (-EINVAL or NULL/EINVAL, one line each),
 *     cancelling the background;
 *   - outside a goroutine: cancel, err, done, with_cancel work; a
 *     deadline (it needs a P's timer heap) is EPERM with one line.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "testutil.h"

#define MS 1000000LL

/* Is the done channel closed (or does it close within wait_ns)? */
static int done_within(grt_ctx *c, int64_t wait_ns) {
  grt_chan *after = grt_after(wait_ns);
  CHECK(after);
  grt_select_case cs[2] = {{.chan = grt_ctx_done(c), .dir = GRT_RECV},
                           {.chan = after, .dir = GRT_RECV}};
  int r = grt_select(cs, 2, 1);
  grt_chan_release(after);
  CHECK(r == 0 || r == 1);
  if (r == 0) CHECK(cs[0].ok == 0); /* closed, never a value */
  return r == 0;
}

static int is_done_now(grt_ctx *c) {
  grt_select_case cs[1] = {{.chan = grt_ctx_done(c), .dir = GRT_RECV}};
  return grt_select(cs, 1, 0) == 0;
}

static void *foreign(void *arg) {
  grt_ctx *parent = arg;
  grt_ctx *c = grt_ctx_with_cancel(parent);
  CHECK(c && grt_ctx_err(c) == 0);
  CHECK(grt_ctx_cancel(c) == 1 && grt_ctx_err(c) == -ECANCELED);
  grt_ctx_free(c);
  errno = 0;
  ONE_LINE("grt_ctx_with_timeout", CHECK(grt_ctx_with_timeout(parent, 50 * MS) == NULL));
  CHECK(errno == EPERM);
  CHECK(grt_ctx_cancel(parent) == 1); /* any thread */
  return NULL;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_ctx *bg = grt_ctx_background();
  CHECK(bg && grt_ctx_background() == bg);
  CHECK(grt_ctx_err(bg) == 0 && grt_ctx_deadline(bg, NULL) == 0 && grt_ctx_done(bg));
  CHECK(!done_within(bg, 20 * MS));
  grt_ctx_free(bg); /* no-ops */
  grt_ctx_release(bg);
  CHECK(grt_ctx_retain(bg) == bg);

  /* Cancel, and the tree: root -> {a -> {a1, a2}, b}. */
  grt_ctx *root = grt_ctx_with_cancel(bg);
  grt_ctx *a = grt_ctx_with_cancel(root), *b = grt_ctx_with_cancel(root);
  grt_ctx *a1 = grt_ctx_with_cancel(a), *a2 = grt_ctx_with_cancel(a);
  CHECK(root && a && b && a1 && a2);
  CHECK(grt_ctx_cancel(a1) == 1 && grt_ctx_err(a1) == -ECANCELED && is_done_now(a1));
  CHECK(grt_ctx_cancel(a1) == 0);
  CHECK(!is_done_now(a) && !is_done_now(a2) && !is_done_now(root) && grt_ctx_err(a) == 0);
  CHECK(grt_ctx_cancel(root) == 1);
  grt_ctx *all[] = {root, a, b, a1, a2};
  for (int i = 0; i < 5; i++)
    CHECK(grt_ctx_err(all[i]) == -ECANCELED && is_done_now(all[i]));
  /* A child of a done parent is born done, with its error. */
  grt_ctx *late = grt_ctx_with_cancel(a);
  CHECK(late && grt_ctx_err(late) == -ECANCELED && is_done_now(late));
  grt_ctx_free(late);
  for (int i = 4; i >= 0; i--)
    grt_ctx_free(all[i]);
  printf("cancel and the tree: ok\n");

  /* Deadlines. */
  int64_t t0 = grt_nanotime();
  grt_ctx *d = grt_ctx_with_timeout(bg, 40 * MS);
  int64_t dl = 0, t1 = grt_nanotime();
  CHECK(d && grt_ctx_deadline(d, &dl) == 1 && dl >= t0 + 40 * MS && dl <= t1 + 40 * MS);
  grt_ctx *dc = grt_ctx_with_cancel(d);                /* inherits the deadline */
  grt_ctx *dlate = grt_ctx_with_timeout(d, 5000 * MS); /* the parent's comes first */
  int64_t dl2 = 0, dl3 = 0;
  CHECK(dc && grt_ctx_deadline(dc, &dl2) == 1 && dl2 == dl);
  CHECK(dlate && grt_ctx_deadline(dlate, &dl3) == 1 && dl3 == dl);
  CHECK(done_within(dc, 2000 * MS));
  printf("deadline of 40 ms: done after %.1f ms\n", (grt_nanotime() - t0) / 1e6);
  CHECK(grt_nanotime() - t0 >= 40 * MS);
  CHECK(grt_ctx_err(d) == -ETIMEDOUT && grt_ctx_err(dc) == -ETIMEDOUT &&
        grt_ctx_err(dlate) == -ETIMEDOUT);
  CHECK(grt_ctx_cancel(d) == 0 && grt_ctx_err(d) == -ETIMEDOUT); /* the error stays */
  grt_ctx_free(dlate);
  grt_ctx_free(dc);
  grt_ctx_free(d);
  /* An earlier child deadline than the parent's: the child alone. */
  grt_ctx *p = grt_ctx_with_timeout(bg, 5000 * MS);
  grt_ctx *c = grt_ctx_with_timeout(p, 20 * MS);
  CHECK(p && c && done_within(c, 2000 * MS) && grt_ctx_err(c) == -ETIMEDOUT);
  CHECK(grt_ctx_err(p) == 0);
  grt_ctx_free(c);
  grt_ctx_free(p); /* stops its pending timer */
  /* In the past: born done. */
  grt_ctx *past = grt_ctx_with_deadline(bg, grt_nanotime() - 1);
  CHECK(past && grt_ctx_err(past) == -ETIMEDOUT && is_done_now(past));
  grt_ctx_free(past);
  grt_ctx *zero = grt_ctx_with_timeout(bg, 0);
  CHECK(zero && grt_ctx_err(zero) == -ETIMEDOUT);
  grt_ctx_free(zero);
  grt_ctx *never = grt_ctx_with_timeout(bg, INT64_MAX);
  CHECK(never && grt_ctx_deadline(never, NULL) == 0 && !done_within(never, 10 * MS));
  grt_ctx_free(never);
  printf("deadlines: ok\n");

  /* References. */
  c = grt_ctx_with_cancel(bg);
  CHECK(grt_ctx_retain(c) == c);
  grt_chan *done = grt_chan_retain(grt_ctx_done(c));
  grt_ctx_free(c); /* the creator's: cancels, the retained one keeps it */
  CHECK(grt_ctx_err(c) == -ECANCELED);
  grt_ctx_release(c);
  grt_select_case cs1[1] = {{.chan = done, .dir = GRT_RECV}};
  CHECK(grt_select(cs1, 1, 0) == 0 && cs1[0].ok == 0); /* outlives the context */
  grt_chan_release(done);
  /* The last release of a live parent cancels its children. */
  p = grt_ctx_with_cancel(bg);
  c = grt_ctx_with_cancel(p);
  grt_ctx_release(p);
  CHECK(grt_ctx_err(c) == -ECANCELED);
  grt_ctx_free(c);
  /* Freed just as the deadline passes, many times: the timer and the free
   * race (ASan would see a use after free). */
  for (int i = 0; i < ASAN_SCALED(2000, 500); i++) {
    grt_ctx *r = grt_ctx_with_timeout(bg, 1 + (i % 50) * 1000);
    CHECK(r);
    if (i % 3) grt_yield();
    grt_ctx_free(r);
  }
  printf("references: ok\n");

  /* Misuse: one line each. */
  errno = 0;
  ONE_LINE("grt_ctx_with_cancel", CHECK(grt_ctx_with_cancel(NULL) == NULL && errno == EINVAL));
  ONE_LINE("grt_ctx_with_deadline", CHECK(grt_ctx_with_deadline(NULL, 0) == NULL));
  ONE_LINE("grt_ctx_with_timeout", CHECK(grt_ctx_with_timeout(NULL, MS) == NULL));
  ONE_LINE("grt_ctx_cancel", CHECK(grt_ctx_cancel(NULL) == -EINVAL));
  ONE_LINE("grt_ctx_cancel", CHECK(grt_ctx_cancel(bg) == -EINVAL));
  errno = 0;
  ONE_LINE("grt_ctx_done", CHECK(grt_ctx_done(NULL) == NULL && errno == EINVAL));
  ONE_LINE("grt_ctx_err", CHECK(grt_ctx_err(NULL) == -EINVAL));
  ONE_LINE("grt_ctx_deadline", CHECK(grt_ctx_deadline(NULL, NULL) == -EINVAL));
  ONE_LINE("grt_ctx_retain", CHECK(grt_ctx_retain(NULL) == NULL));
  c = grt_ctx_with_cancel(bg);
  grt_ctx_retain(c);
  grt_ctx_release(c);
  grt_ctx_release(c);
  stderr_capture_begin();
  grt_ctx_free(NULL);
  grt_ctx_release(NULL);
  CHECK(stderr_capture_end() == 0);
  printf("misuse: ok\n");

  /* Outside a goroutine. */
  root = grt_ctx_with_cancel(bg);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, foreign, root) == 0);
  CHECK(join_thread(th) == 0);
  CHECK(grt_ctx_err(root) == -ECANCELED && is_done_now(root));
  grt_ctx_free(root);
  printf("outside a goroutine: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
