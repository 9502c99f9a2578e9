/*
 * ctx_wake_all: a context's cancel wakes every waiter on its done channel,
 * and on its descendants' (issue 15).  1000 goroutines park in grt_select
 * on a done channel and a channel that never gets a value: half on the
 * root's, half spread over 10 children and 40 grandchildren.  One
 * grt_ctx_cancel of the root, from another goroutine, must wake all 1000,
 * each seeing its case closed and its context's error -ECANCELED.  Then
 * the same with a deadline instead of a cancel (-ETIMEDOUT), on 1 and 2 Ps.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdatomic.h>
#include <stdio.h>

#include "testutil.h"

#define N 1000
#define MS 1000000LL

static grt_chan *never;
static grt_wg wg = GRT_WG_INIT;
static _Atomic int parked, woke, bad;
static int want_err;

static void waiter(void *arg) {
  grt_ctx *c = arg;
  grt_select_case cs[2] = {{.chan = never, .dir = GRT_RECV},
                           {.chan = grt_ctx_done(c), .dir = GRT_RECV}};
  atomic_fetch_add(&parked, 1);
  int r = grt_select(cs, 2, 1);
  if (r != 1 || cs[1].ok != 0 || grt_ctx_err(c) != want_err) atomic_fetch_add(&bad, 1);
  atomic_fetch_add(&woke, 1);
  grt_ctx_release(c); /* this goroutine's reference */
  grt_wg_done(&wg);
}

/* root, 10 children, 4 grandchildren each; waiters spread over them. */
static void round_of(grt_ctx *root, int err) {
  grt_ctx *tree[1 + 10 + 40];
  int n = 0;
  tree[n++] = root;
  for (int i = 0; i < 10; i++) {
    grt_ctx *ch = grt_ctx_with_cancel(root);
    CHECK(ch);
    tree[n++] = ch;
    for (int j = 0; j < 4; j++)
      CHECK((tree[n++] = grt_ctx_with_cancel(ch)));
  }
  atomic_store(&parked, 0);
  atomic_store(&woke, 0);
  want_err = err;
  grt_wg_add(&wg, N);
  for (int i = 0; i < N; i++) {
    grt_ctx *c = i % 2 ? tree[1 + i % (n - 1)] : root;
    CHECK(grt_go(waiter, grt_ctx_retain(c)) == 0);
  }
  while (atomic_load(&parked) < N)
    grt_sleep(MS);
  grt_sleep(20 * MS);      /* let the last ones reach their park */
  if (err == -ECANCELED) { /* (a deadline may have passed already on a slow machine) */
    CHECK(atomic_load(&woke) == 0);
    CHECK(grt_ctx_cancel(root) == 1);
  }
  /* Not grt_wg_wait: a waiter never woken fails the test (after 10 s)
   * instead of hanging it. */
  for (int64_t t0 = grt_nanotime(); atomic_load(&woke) < N && grt_nanotime() - t0 < 10000 * MS;)
    grt_sleep(MS);
  printf("woke %d of %d (%d wrong)\n", atomic_load(&woke), N, atomic_load(&bad));
  CHECK(atomic_load(&woke) == N && atomic_load(&bad) == 0);
  grt_wg_wait(&wg);
  for (int i = n - 1; i >= 0; i--)
    grt_ctx_free(tree[i]);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  never = grt_chan_make(0, 0);
  CHECK(never);
  round_of(grt_ctx_with_cancel(grt_ctx_background()), -ECANCELED);
  round_of(grt_ctx_with_timeout(grt_ctx_background(), 1000 * MS), -ETIMEDOUT);
  grt_chan_release(never);
  return 0;
}

int main(int argc, char **argv) {
  const char *procs = argc > 1 ? argv[1] : NULL;
  if (procs) return main_with_procs(procs, run, argc, argv);
  for (int p = 1; p <= 2; p++) { /* each in its own process: grt_main runs once */
    const char *args[] = {p == 1 ? "1" : "2", NULL};
    printf("GRT_MAXPROCS=%d:\n", p);
    fflush(stdout);
    int st = run_self(args, NULL, NULL, NULL, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  return 0;
}
