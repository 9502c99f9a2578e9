/*
 * unit_pprof_top: grt-pprof's reader (pprof_top, tools/grt-pprof/pprof_top.c,
 * the code of `grt-pprof top`) prints a profile's functions by flat CPU
 * with the exact flat%, sum% and cum% of a known set of weights (cum counts
 * a recursive function once per sample; ties in flat go by name, as in
 * pprof), in the same order as the real `go tool pprof -top`; reads plain
 * as well as gzipped files, packed and unpacked repeated fields, sparse
 * ids, inline chains and unsymbolized locations; and answers bad input
 * (missing, empty, random, truncated, mutated, dangling references) with
 * -errno, never a crash.  Without `go` on PATH everything else still
 * runs (and can fail); then the test reports itself skipped (77).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "testutil.h"

#include "pprof_top.h"   /* the reader under test */
#include "pprof/pprof.h" /* libgrt's writer makes the profiles */

/* ---- code whose addresses make up the stacks ---- */

volatile int sink;

__attribute__((noinline)) int leaf_fn(int x) {
  asm volatile("" : "+r"(x));
  sink += x;
  return x * 3;
}
__attribute__((noinline)) int mid_fn(int x) {
  return leaf_fn(x) + leaf_fn(x + 1);
}
__attribute__((noinline)) int alpha_fn(int x) {
  return leaf_fn(x) - 1;
}
__attribute__((noinline)) int other_fn(int x) {
  return alpha_fn(x) + leaf_fn(x);
}
__attribute__((noinline)) int rec_fn(int x) {
  return x <= 0 ? leaf_fn(x) : rec_fn(x - 1) + leaf_fn(x);
}
__attribute__((noinline)) int root_fn(int x) {
  return mid_fn(x) * other_fn(x + 2) + rec_fn(x);
}

#define PC(f) ((uintptr_t)(f) + 4)

static char tmpdir[] = "/tmp/unit_pprof_top.XXXXXX";

/* A path in tmpdir (malloc'd). */
static char *tmp_path(const char *name) {
  char *p;
  CHECK(asprintf(&p, "%s/%s", tmpdir, name) > 0);
  return p;
}

/* ---- the known profile ---- */

enum { PERIOD = 10000000 }; /* 10 ms a sample: 100 samples make 1 s */

/* Weights add up to 100, so a weight is its own percentage.  rec_fn's
 * stack holds it twice, at two different addresses: cum counts it once. */
static void write_known(const char *path) {
  struct {
    uintptr_t pcs[4];
    int npcs;
    int64_t weight;
  } stacks[] = {
      {{PC(leaf_fn), PC(mid_fn), PC(root_fn)}, 3, 30},
      {{PC(mid_fn), PC(root_fn)}, 2, 10},
      {{PC(other_fn), PC(root_fn)}, 2, 20},
      {{PROF_PC_SYSTEM}, 1, 5},
      {{PC(rec_fn), PC(rec_fn) + 8, PC(root_fn)}, 3, 20},
      {{PC(alpha_fn), PC(other_fn), PC(root_fn)}, 3, 10},
  };
  pprof_writer *w = pprof_writer_new(PERIOD, 1700000000000000000LL);
  CHECK(w);
  for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) {
    CHECK(pprof_writer_add(w, stacks[i].pcs, stacks[i].npcs, NULL, stacks[i].weight) == 0);
    if (stacks[i].pcs[0] == PC(rec_fn)) /* again: the writer aggregates */
      CHECK(pprof_writer_add(w, stacks[i].pcs, stacks[i].npcs, NULL, 5) == 0);
  }
  symbolizer *s = symbolize_open();
  CHECK(s);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, s, 2000000000LL, fd) == 0);
  CHECK(close(fd) == 0);
  symbolize_close(s);
  pprof_writer_free(w);
}

/* Expected rows: flat 30/25/20/10/10/5/0 (alpha_fn before mid_fn on the
 * tie: by name, not by mid_fn's bigger cum), cum of root_fn 95. */
static const char *const known_rows[] = {
    "     300ms 30.00% 30.00%      300ms 30.00%  leaf_fn",
    "     250ms 25.00% 55.00%      250ms 25.00%  rec_fn",
    "     200ms 20.00% 75.00%      300ms 30.00%  other_fn",
    "     100ms 10.00% 85.00%      100ms 10.00%  alpha_fn",
    "     100ms 10.00% 95.00%      400ms 40.00%  mid_fn",
    "      50ms  5.00%   100%       50ms  5.00%  grt._System",
    "         0     0%   100%      950ms 95.00%  root_fn",
};
enum { NKNOWN = sizeof known_rows / sizeof *known_rows };

/* ---- running pprof_top ---- */

/* Runs pprof_top(path, n) and returns its result; *out gets what it
 * printed (malloc'd, NUL-terminated). */
static int top(const char *path, int n, char **out) {
  static char *opath;
  if (!opath) opath = tmp_path("top.out");
  int fd = open(opath, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  int rc = pprof_top(path, n, fd);
  off_t len = lseek(fd, 0, SEEK_END);
  CHECK(len >= 0);
  char *buf = malloc((size_t)len + 1);
  CHECK(buf);
  CHECK(pread(fd, buf, (size_t)len, 0) == len);
  buf[len] = 0;
  close(fd);
  *out = buf;
  return rc;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The lines of s (modified in place) after the column header; returns
 * how many (at most max). */
static int rows_of(char *s, char **rows, int max) {
  char *hdr = strstr(s, "      flat  flat%   sum%        cum   cum%");
  CHECK(hdr);
  char *p = strchr(hdr, '\n');
  CHECK(p);
  int n = 0;
  for (char *line = strtok(p + 1, "\n"); line && n < max; line = strtok(NULL, "\n"))
    rows[n++] = line;
  return n;
}

static void check_known(const char *path) {
  char *out;
  CHECK(top(path, 100, &out) == 0);
  printf("---- pprof_top(%s, 100) ----\n%s", path, out);
  CHECK(starts_with(out, "Total: 1s CPU in 100 samples over 2s (50.00%)\n"));
  CHECK(strstr(out, "Showing top 7 of 7 functions, accounting for 1s (100%) of 1s\n"));
  char *rows[16];
  CHECK(rows_of(out, rows, 16) == NKNOWN);
  for (int i = 0; i < NKNOWN; i++) {
    if (strcmp(rows[i], known_rows[i]) != 0)
      fprintf(stderr, "row %d: got\n%s\nwant\n%s\n", i, rows[i], known_rows[i]);
    CHECK(strcmp(rows[i], known_rows[i]) == 0);
  }
  free(out);

  /* The top 3 only, and the header says so. */
  CHECK(top(path, 3, &out) == 0);
  CHECK(strstr(out, "Showing top 3 of 7 functions, accounting for 750ms (75.00%) of 1s\n"));
  CHECK(rows_of(out, rows, 16) == 3);
  for (int i = 0; i < 3; i++)
    CHECK(strcmp(rows[i], known_rows[i]) == 0);
  free(out);
}

/* ---- the same file through go tool pprof -top ---- */

static int have_go(void) {
  return system("command -v go >/dev/null 2>&1") == 0;
}

static char *run(const char *cmd) {
  FILE *p = popen(cmd, "r");
  CHECK(p);
  size_t cap = 1 << 16, len = 0, n;
  char *out = malloc(cap);
  CHECK(out);
  while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0) {
    len += n;
    if (len + 1 == cap) {
      cap *= 2;
      out = realloc(out, cap);
      CHECK(out);
    }
  }
  out[len] = 0;
  int status = pclose(p);
  if (status != 0) fprintf(stderr, "%s failed:\n%s\n", cmd, out);
  CHECK(status == 0);
  return out;
}

/* The name and the three percentages of a -top row ("" if it is none). */
struct row {
  char pct[3][16];
  char name[128];
};

static int parse_row(const char *line, struct row *r) {
  char flat[32], cum[32];
  return sscanf(line, "%31s %15s %15s %31s %15s %127s", flat, r->pct[0], r->pct[1], cum, r->pct[2],
                r->name) == 6;
}

static void compare_with_go(const char *path) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "HOME=%s GOCACHE=%s/gocache GOFLAGS= go tool pprof -top -symbolize=none %s 2>&1", tmpdir,
           tmpdir, path);
  char *go = run(cmd);
  printf("---- go tool pprof -top ----\n%s", go);
  char *mine;
  CHECK(top(path, 100, &mine) == 0);
  char *grows[16], *mrows[16];
  int ng = rows_of(go, grows, 16), nm = rows_of(mine, mrows, 16);
  CHECK(ng == NKNOWN && nm == NKNOWN);
  for (int i = 0; i < NKNOWN; i++) {
    struct row g, m;
    CHECK(parse_row(grows[i], &g) && parse_row(mrows[i], &m));
    if (strcmp(g.name, m.name)) fprintf(stderr, "row %d: go %s, grt %s\n", i, g.name, m.name);
    CHECK(strcmp(g.name, m.name) == 0);
    for (int k = 0; k < 3; k++)
      CHECK(strcmp(g.pct[k], m.pct[k]) == 0);
  }
  free(go);
  free(mine);
}

/* ---- files of other shapes ---- */

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, data, len) == (ssize_t)len);
  CHECK(close(fd) == 0);
}

/* Reads a whole file, gunzipped.  Returns its length. */
static size_t gunzip_file(const char *path, unsigned char **out) {
  gzFile gz = gzopen(path, "rb");
  CHECK(gz);
  size_t cap = 1 << 20, len = 0;
  unsigned char *buf = malloc(cap);
  CHECK(buf);
  int n;
  while ((n = gzread(gz, buf + len, (unsigned)(cap - len))) > 0) {
    len += (size_t)n;
    CHECK(len < cap);
  }
  CHECK(n == 0);
  gzclose(gz);
  *out = buf;
  return len;
}

/* A tiny protobuf encoder, for profiles the writer would never make. */
struct pb {
  unsigned char b[4096];
  size_t n;
};

static void pb_varint(struct pb *p, uint64_t v) {
  do {
    CHECK(p->n < sizeof p->b);
    p->b[p->n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
}
static void pb_int(struct pb *p, int field, uint64_t v) {
  pb_varint(p, (uint64_t)field << 3);
  pb_varint(p, v);
}
static void pb_msg(struct pb *p, int field, const struct pb *m) {
  pb_varint(p, (uint64_t)field << 3 | 2);
  pb_varint(p, m->n);
  CHECK(p->n + m->n <= sizeof p->b);
  memcpy(p->b + p->n, m->b, m->n);
  p->n += m->n;
}
static void pb_str(struct pb *p, int field, const char *s) {
  struct pb m = {.n = strlen(s)};
  memcpy(m.b, s, m.n);
  pb_msg(p, field, &m);
}
/* A packed run of varints. */
static void pb_packed(struct pb *p, int field, const uint64_t *v, int n) {
  struct pb m = {.n = 0};
  for (int i = 0; i < n; i++)
    pb_varint(&m, v[i]);
  pb_msg(p, field, &m);
}

/* How to break the hand-made profile (0: not at all). */
enum {
  HAND_OK,
  HAND_MISSING_FUNCTION,
  HAND_MISSING_LOCATION,
  HAND_MISSING_MAPPING,
  HAND_BAD_STRING,
  HAND_DUP_LOCATION,
  HAND_FEW_VALUES,
  HAND_NO_TYPES,
  HAND_BAD_STRING0,
  HAND_NEGATIVE,
  HAND_GROUP,
  HAND_LONG_LENGTH,
  HAND_END
};

/*
 * Strings last, sparse ids, mixed packing, an inline chain, and locations
 * without lines, in no mapping (shown by address) or in libfoo.so.1 (shown
 * as the binary, all its locations one row, as pprof does):
 *   sample A  loc 1000 (f_one)                    3 samples, unpacked
 *   sample B  loc 5 (f_two inlined in f_one)      2 samples, packed
 *   sample C  loc 77 (0xabc), loc 5               1 sample, mixed
 *   sample D  loc 78 (libfoo)                     1 sample
 *   sample E  loc 79 (libfoo), 78 (libfoo), 1000  1 sample
 * f_one: flat 3, cum 7; libfoo: flat 2, cum 2 (once in sample E);
 * f_two: flat 2, cum 3; 0xabc: flat 1, cum 1.  Total 8.
 */
static size_t hand_profile(int breakage, unsigned char *out) {
  struct pb p = {.n = 0}, m, l;
  const char *strs[] = {
      "", "samples", "count", "cpu", "nanoseconds", "f_one", "f_two", "/usr/lib/libfoo.so.1"};
  for (int i = 0; i < 2; i++) {
    if (breakage == HAND_NO_TYPES) break;
    m = (struct pb){.n = 0};
    pb_int(&m, 1, 1 + 2 * (uint64_t)i);
    pb_int(&m, 2, breakage == HAND_BAD_STRING && i ? 99 : 2 + 2 * (uint64_t)i);
    pb_msg(&p, 1, &m);
  }
  /* sample A: unpacked */
  m = (struct pb){.n = 0};
  pb_int(&m, 1, breakage == HAND_MISSING_LOCATION ? 1001 : 1000);
  pb_int(&m, 2, 3);
  if (breakage != HAND_FEW_VALUES) pb_int(&m, 2, 3000000);
  pb_msg(&p, 2, &m);
  /* sample B: packed */
  m = (struct pb){.n = 0};
  pb_packed(&m, 1, (uint64_t[]){5}, 1);
  pb_packed(&m, 2, (uint64_t[]){2, breakage == HAND_NEGATIVE ? (uint64_t)-5 : 2000000}, 2);
  pb_msg(&p, 2, &m);
  /* sample C: ids packed, then one more unpacked; values one of each */
  m = (struct pb){.n = 0};
  pb_packed(&m, 1, (uint64_t[]){77}, 1);
  pb_int(&m, 1, 5);
  pb_int(&m, 2, 1);
  pb_packed(&m, 2, (uint64_t[]){1000000}, 1);
  pb_msg(&p, 2, &m);
  m = (struct pb){.n = 0};
  pb_packed(&m, 1, (uint64_t[]){78}, 1);
  pb_packed(&m, 2, (uint64_t[]){1, 1000000}, 2);
  pb_msg(&p, 2, &m);
  m = (struct pb){.n = 0};
  pb_packed(&m, 1, (uint64_t[]){79, 78, 1000}, 3);
  pb_packed(&m, 2, (uint64_t[]){1, 1000000}, 2);
  pb_msg(&p, 2, &m);
  /* the mapping */
  m = (struct pb){.n = 0};
  pb_int(&m, 1, 3);
  pb_int(&m, 2, 0x7000);
  pb_int(&m, 3, 0x9000);
  pb_int(&m, 5, 7);
  pb_msg(&p, 3, &m);
  /* locations */
  m = (struct pb){.n = 0};
  pb_int(&m, 1, 1000);
  l = (struct pb){.n = 0};
  pb_int(&l, 1, breakage == HAND_MISSING_FUNCTION ? 8 : 7);
  pb_msg(&m, 4, &l);
  pb_msg(&p, 4, &m);
  m = (struct pb){.n = 0};
  pb_int(&m, 1, 5);
  pb_int(&m, 3, 0x4242);
  l = (struct pb){.n = 0};
  pb_int(&l, 1, 9);
  pb_int(&l, 2, 12);
  pb_msg(&m, 4, &l);
  l = (struct pb){.n = 0};
  pb_int(&l, 1, 7);
  pb_msg(&m, 4, &l);
  pb_msg(&p, 4, &m);
  m = (struct pb){.n = 0};
  pb_int(&m, 1, 77);
  pb_int(&m, 3, 0xabc);
  pb_msg(&p, 4, &m);
  if (breakage == HAND_DUP_LOCATION) pb_msg(&p, 4, &m); /* id 77 twice */
  for (int i = 0; i < 2; i++) {
    m = (struct pb){.n = 0};
    pb_int(&m, 1, 78 + (uint64_t)i);
    pb_int(&m, 2, breakage == HAND_MISSING_MAPPING ? 4 : 3);
    pb_int(&m, 3, 0x7100 + 0x100 * (uint64_t)i);
    pb_msg(&p, 4, &m);
  }
  /* functions */
  m = (struct pb){.n = 0};
  pb_int(&m, 1, 7);
  pb_int(&m, 2, 5);
  pb_msg(&p, 5, &m);
  m = (struct pb){.n = 0};
  pb_int(&m, 1, 9);
  pb_int(&m, 2, 6);
  pb_msg(&p, 5, &m);
  if (breakage == HAND_GROUP) pb_varint(&p, 3 << 3 | 3); /* a start-group tag */
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    pb_str(&p, 6, i == 0 && breakage == HAND_BAD_STRING0 ? "x" : strs[i]);
  pb_int(&p, 10, 8000000);
  if (breakage == HAND_LONG_LENGTH) {
    pb_varint(&p, 13 << 3 | 2);
    pb_varint(&p, 1000); /* more bytes than are left */
    pb_varint(&p, 1);
  }
  memcpy(out, p.b, p.n);
  return p.n;
}

static void check_hand_made(void) {
  unsigned char buf[4096];
  char *path = tmp_path("hand.pb");
  write_file(path, buf, hand_profile(HAND_OK, buf));
  char *out, *rows[16];
  CHECK(top(path, 10, &out) == 0);
  printf("---- hand-made ----\n%s", out);
  CHECK(starts_with(out, "Total: 8ms CPU in 8 samples over 8ms (100%)\n"));
  const char *want[] = {
      "       3ms 37.50% 37.50%        7ms 87.50%  f_one",
      "       2ms 25.00% 62.50%        2ms 25.00%  [libfoo.so.1]", /* '[' sorts before 'f' */
      "       2ms 25.00% 87.50%        3ms 37.50%  f_two",
      "       1ms 12.50%   100%        1ms 12.50%  0xabc",
  };
  CHECK(rows_of(out, rows, 16) == 4);
  for (int i = 0; i < 4; i++) {
    if (strcmp(rows[i], want[i])) fprintf(stderr, "got  %s\nwant %s\n", rows[i], want[i]);
    CHECK(strcmp(rows[i], want[i]) == 0);
  }
  free(out);

  for (int b = HAND_OK + 1; b < HAND_END; b++) {
    write_file(path, buf, hand_profile(b, buf));
    int rc = top(path, 10, &out);
    if (rc != -EINVAL) fprintf(stderr, "breakage %d: %d\n%s", b, rc, out);
    CHECK(rc == -EINVAL);
    CHECK(out[0] == 0); /* nothing printed */
    free(out);
  }
  free(path);
}

/* ---- many rows ---- */

/* 20,000 unsymbolized addresses, in no mapping: one row each, printed in
 * several chunks; weights 1..7, so the top row is a 7 and the last a 1,
 * with the addresses' names in order among equals. */
static void check_many_rows(void) {
  enum { N = 20000 };
  pprof_writer *w = pprof_writer_new(PERIOD, 0);
  CHECK(w);
  int64_t total = 0;
  for (int i = 0; i < N; i++) {
    uintptr_t pc = 0x100000 + (uintptr_t)i * 16;
    CHECK(pprof_writer_add(w, &pc, 1, NULL, 1 + i % 7) == 0);
    total += 1 + i % 7;
  }
  char *path = tmp_path("many.pb.gz");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, NULL, 1, fd) == 0);
  CHECK(close(fd) == 0);
  pprof_writer_free(w);

  char *out, **rows = malloc((N + 1) * sizeof *rows);
  CHECK(rows);
  CHECK(top(path, 1000000, &out) == 0);
  CHECK(strlen(out) > 4 * 64 * 1024);
  CHECK(rows_of(out, rows, N + 1) == N);
  struct row first, last;
  CHECK(parse_row(rows[0], &first) && parse_row(rows[N - 1], &last));
  CHECK(strcmp(first.name, "0x100060") == 0); /* i = 6, the lowest address of a 7 */
  CHECK(strcmp(last.pct[1], "100%") == 0);
  CHECK(strcmp(last.name, "0x14e1f0") == 0); /* i = 19999: the highest of the 1s */
  printf("many rows: %d, total %lld samples\n", N, (long long)total);
  free(rows);
  free(out);
  free(path);
}

/* ---- bad input ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Any answer but a crash (ASan would see one) is fine for mangled input,
 * as long as it is 0 or -EINVAL. */
static void check_survives(const char *path, const void *data, size_t len) {
  write_file(path, data, len);
  char *out;
  int rc = top(path, 5, &out);
  if (rc != 0 && rc != -EINVAL) fprintf(stderr, "mangled input: %d\n", rc);
  CHECK(rc == 0 || rc == -EINVAL);
  free(out);
}

static void check_bad_input(const char *good_gz) {
  char *out, *missing = tmp_path("does-not-exist");
  CHECK(top(missing, 5, &out) == -ENOENT);
  free(out);
  free(missing);
  CHECK(top(tmpdir, 5, &out) == -EISDIR);
  free(out);
  CHECK(pprof_top(good_gz, 0, 1) == -EINVAL);
  CHECK(pprof_top(good_gz, -3, 1) == -EINVAL);
  CHECK(pprof_top(NULL, 5, 1) == -EINVAL);
  CHECK(pprof_top(good_gz, 5, -1) == -EINVAL);
  int fd = open("/dev/null", O_RDONLY);
  CHECK(fd >= 0);
  CHECK(pprof_top(good_gz, 5, fd) == -EBADF); /* the write fails */
  close(fd);

  char *path = tmp_path("bad.pb");
  write_file(path, "", 0);
  CHECK(top(path, 5, &out) == -EINVAL);
  free(out);

  unsigned char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)next_rand();
  write_file(path, junk, sizeof junk);
  CHECK(top(path, 5, &out) == -EINVAL);
  free(out);
  junk[0] = 0x1f, junk[1] = 0x8b; /* gzip's magic, then garbage */
  write_file(path, junk, sizeof junk);
  CHECK(top(path, 5, &out) == -EINVAL);
  free(out);

  /* A gzipped profile cut short: gzip notices. */
  int gfd = open(good_gz, O_RDONLY);
  CHECK(gfd >= 0);
  struct stat st;
  CHECK(fstat(gfd, &st) == 0);
  unsigned char *gz = malloc((size_t)st.st_size);
  CHECK(gz);
  CHECK(read(gfd, gz, (size_t)st.st_size) == st.st_size);
  close(gfd);
  for (off_t cut = 0; cut < st.st_size; cut += 1 + cut / 8) {
    write_file(path, gz, (size_t)cut);
    CHECK(top(path, 5, &out) == -EINVAL);
    free(out);
  }
  free(gz);

  /* The plain profile cut at every length, and mutated at random: the
   * stderr lines of thousands of refusals go to /dev/null. */
  unsigned char *raw;
  size_t len = gunzip_file(good_gz, &raw);
  fflush(stderr);
  int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
  CHECK(saved >= 0 && devnull >= 0);
  dup2(devnull, 2);
  int ok = 0;
  for (size_t cut = 0; cut < len; cut++) {
    write_file(path, raw, cut);
    ok += top(path, 5, &out) == 0;
    free(out);
  }
  unsigned char *mut = malloc(len);
  CHECK(mut);
  for (int round = 0; round < ASAN_SCALED(3000, 1000); round++) {
    memcpy(mut, raw, len);
    int edits = 1 + (int)(next_rand() % 4);
    for (int e = 0; e < edits; e++) {
      size_t at = next_rand() % len;
      switch (next_rand() % 3) {
      case 0:
        mut[at] = (unsigned char)next_rand();
        break;
      case 1:
        mut[at] ^= (unsigned char)(1u << (next_rand() % 8));
        break;
      default:
        mut[at] = 0xff; /* long varints, huge lengths */
      }
    }
    check_survives(path, mut, len);
  }
  dup2(saved, 2);
  close(saved);
  close(devnull);
  /* Cutting drops whole fields sometimes: a few prefixes may still read
   * as profiles, but most must not. */
  printf("prefixes accepted: %d of %zu\n", ok, len);
  CHECK(ok < (int)len / 2);
  free(mut);

  /* The plain (gunzipped) file reads as the gzipped one does. */
  char *plain = tmp_path("plain.pb");
  write_file(plain, raw, len);
  char *a, *b;
  CHECK(top(plain, 100, &a) == 0);
  CHECK(top(good_gz, 100, &b) == 0);
  CHECK(strcmp(a, b) == 0);
  free(a);
  free(b);
  free(raw);
  free(plain);
  free(path);
}

int main(void) {
  CHECK(root_fn(3) != 12345); /* the functions run: real code */
  CHECK(mkdtemp(tmpdir));
  char *known = tmp_path("known.pb.gz");
  write_known(known);
  check_known(known);
  int go = have_go();
  if (go) compare_with_go(known);
  check_hand_made();
  check_many_rows();
  check_bad_input(known);
  free(known);

  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  CHECK(system(cmd) == 0);
  if (!go) {
    printf("SKIP: go not on PATH: no comparison with go tool pprof (all else passed)\n");
    return 77;
  }
  printf("ok\n");
  return 0;
}
