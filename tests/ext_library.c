/*
 * ext_library: real C libraries call back into goroutine code.
 *   (a) Inside grt_extcall, libc's qsort sorts 2,000 ints with a comparator
 *       that asks a goroutine: through grt_callback it sends each pair over
 *       a channel to a comparing goroutine and receives the answer over
 *       another.  The array must come out sorted (equal to a plain qsort of
 *       the same input), and the comparing goroutine must have answered
 *       exactly as many comparisons as qsort made.
 *   (b) SQLite, run inside grt_extcall: a user-defined SQL function gsum(x)
 *       is implemented through grt_callback, and the callback computes
 *       x*x + 1 by calling grt_extcall again.  On an in-memory database with
 *       1,000 rows, SELECT sum(gsum(x)) must give the exact sum, gsum must
 *       have run once per row, and the innermost C code must see extcall
 *       depth 2 and callback depth 1.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NSORT 2000
#define NROWS 1000

/* ---- (a) qsort with a goroutine as the comparator ---- */

struct pair {
  int a, b;
};

static grt_chan *cmp_req, *cmp_reply;
static long cmp_calls; /* comparator calls, counted in C */
static long answered;  /* comparisons the comparing goroutine answered */

static void comparer(void *arg) {
  (void)arg;
  struct pair p;
  while (grt_chan_recv(cmp_req, &p) == 1) {
    int r = (p.a > p.b) - (p.a < p.b);
    answered++;
    CHECK(grt_chan_send(cmp_reply, &r) == 0);
  }
}

/* Goroutine code: ask the comparing goroutine. */
static void *ask(void *arg) {
  struct pair *p = arg;
  int r;
  CHECK(grt_chan_send(cmp_req, p) == 0);
  CHECK(grt_chan_recv(cmp_reply, &r) == 1);
  return (void *)(intptr_t)r;
}

/* External code: qsort's comparator. */
static int cmp_via_goroutine(const void *x, const void *y) {
  struct pair p = {*(const int *)x, *(const int *)y};
  cmp_calls++;
  return (int)(intptr_t)grt_callback(ask, &p);
}

static int cmp_plain(const void *x, const void *y) {
  int a = *(const int *)x, b = *(const int *)y;
  return (a > b) - (a < b);
}

static void *sort_fn(void *arg) {
  qsort(arg, NSORT, sizeof(int), cmp_via_goroutine);
  return NULL;
}

static void test_qsort(void) {
  static int v[NSORT], ref[NSORT];
  srand(12345);
  for (int i = 0; i < NSORT; i++)
    v[i] = ref[i] = rand() % 5000 - 2500; /* some duplicates */
  qsort(ref, NSORT, sizeof(int), cmp_plain);

  cmp_req = grt_chan_make(sizeof(struct pair), 0);
  cmp_reply = grt_chan_make(sizeof(int), 0);
  CHECK(cmp_req && cmp_reply);
  CHECK(grt_go(comparer, NULL) == 0);
  CHECK(grt_extcall(sort_fn, v) == NULL);
  CHECK(grt_chan_close(cmp_req) == 0);

  printf("qsort: %ld comparator calls, %ld answered by the goroutine\n", cmp_calls, answered);
  for (int i = 1; i < NSORT; i++)
    CHECK(v[i - 1] <= v[i]);
  CHECK(memcmp(v, ref, sizeof v) == 0);
  CHECK(cmp_calls >= NSORT - 1);
  CHECK(answered == cmp_calls);
}

/* ---- (b) SQLite with a goroutine-backed SQL function ---- */

static long gsum_calls;
static int bad_depths;

/* External code again, called from the callback. */
static void *square_plus_one(void *arg) {
  int64_t x = *(int64_t *)arg;
  grt_thread_state st;
  CHECK(grt_thread_state_get(&st) == 0);
  if (st.ext_depth != 2 || st.cb_depth != 1 || st.in_external) bad_depths++;
  return (void *)(intptr_t)(x * x + 1);
}

/* Goroutine code: the body of gsum. */
static void *gsum_body(void *arg) {
  int64_t x = *(int64_t *)arg;
  gsum_calls++;
  if (x % 100 == 0) grt_yield(); /* goroutine code may do goroutine things */
  return grt_extcall(square_plus_one, &x);
}

/* SQLite's entry point for gsum(x), external code. */
static void gsum(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  CHECK(argc == 1);
  int64_t x = sqlite3_value_int64(argv[0]);
  void *r = grt_callback(gsum_body, &x);
  sqlite3_result_int64(ctx, (int64_t)(intptr_t)r);
}

static void *sql_fn(void *arg) {
  int64_t *result = arg;
  sqlite3 *db;
  CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
  CHECK(sqlite3_create_function(db, "gsum", 1, SQLITE_UTF8, NULL, gsum, NULL, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "CREATE TABLE t(x INTEGER)", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_stmt *ins;
  CHECK(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?)", -1, &ins, NULL) == SQLITE_OK);
  for (int i = 1; i <= NROWS; i++) {
    CHECK(sqlite3_bind_int(ins, 1, i) == SQLITE_OK);
    CHECK(sqlite3_step(ins) == SQLITE_DONE);
    CHECK(sqlite3_reset(ins) == SQLITE_OK);
  }
  CHECK(sqlite3_finalize(ins) == SQLITE_OK);
  sqlite3_stmt *q;
  CHECK(sqlite3_prepare_v2(db, "SELECT sum(gsum(x)) FROM t", -1, &q, NULL) == SQLITE_OK);
  CHECK(sqlite3_step(q) == SQLITE_ROW);
  *result = sqlite3_column_int64(q, 0);
  CHECK(sqlite3_step(q) == SQLITE_DONE);
  CHECK(sqlite3_finalize(q) == SQLITE_OK);
  CHECK(sqlite3_close(db) == SQLITE_OK);
  return NULL;
}

static void test_sqlite(void) {
  int64_t result = 0;
  CHECK(grt_extcall(sql_fn, &result) == NULL);
  int64_t n = NROWS, want = n * (n + 1) * (2 * n + 1) / 6 + n; /* sum of x*x + 1 */
  printf("sqlite: sum(gsum(x)) = %lld (want %lld), gsum ran %ld times\n", (long long)result,
         (long long)want, gsum_calls);
  CHECK(result == want);
  CHECK(gsum_calls == NROWS);
  CHECK(bad_depths == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  test_qsort();
  test_sqlite();
  printf("ext_library: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
