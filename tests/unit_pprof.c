/*
 * unit_pprof: the pprof writer aggregates samples by (stack, labels) and
 * writes a gzipped profile.proto that the real `go tool pprof` reads back
 * with exactly the counts and cpu values added, the function names (when
 * symbolized), the four pseudo-frames, the labels on the labelled sample
 * only, the period and the sample types.  Write errors come back as
 * -errno.  Skips (77) when `go` is not on PATH.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "pprof/pprof.h"

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
__attribute__((noinline)) int root_fn(int x) {
  return mid_fn(x) * mid_fn(x + 2);
}
__attribute__((noinline)) int other_fn(int x) {
  return root_fn(x) - leaf_fn(x);
}

#define PC(f) ((uintptr_t)(f) + 4)

/* ---- what goes into the profile ---- */

enum { PERIOD = 1000000 };

struct stack {
  const char *what;
  uintptr_t pcs[4];
  int npcs;
  int labelled;       /* {"worker", "a"} */
  int64_t weights[3]; /* added one by one; 0 ends the list */
};

static struct stack stacks[8];
static int nstacks;

static void define_stacks(void) {
  struct stack s[] = {
      {"leaf<-mid<-root", {PC(leaf_fn), PC(mid_fn), PC(root_fn)}, 3, 0, {1, 2, 3}},
      {"leaf<-mid<-root labelled", {PC(leaf_fn), PC(mid_fn), PC(root_fn)}, 3, 1, {5}},
      {"other<-root", {PC(other_fn), PC(root_fn)}, 2, 0, {7}},
      {"system", {PROF_PC_SYSTEM}, 1, 0, {11}},
      {"external", {PROF_PC_EXTERNAL}, 1, 0, {13, 3}},
      {"lost", {PROF_PC_LOST}, 1, 0, {17}},
      {"truncated", {PC(leaf_fn), PC(mid_fn), PROF_PC_TRUNCATED}, 3, 0, {19}},
      {"unmapped", {0x1000, PC(other_fn)}, 2, 0, {23}},
  };
  nstacks = (int)(sizeof s / sizeof *s);
  memcpy(stacks, s, sizeof s);
}

static int64_t total_weight(const struct stack *s) {
  int64_t t = 0;
  for (int i = 0; i < 3 && s->weights[i]; i++)
    t += s->weights[i];
  return t;
}

static const char *const worker_a[] = {"worker", "a", NULL};

static pprof_writer *build_writer(void) {
  pprof_writer *w = pprof_writer_new(PERIOD, 1700000000000000000LL);
  CHECK(w);
  for (int i = 0; i < nstacks; i++)
    for (int j = 0; j < 3 && stacks[i].weights[j]; j++)
      CHECK(pprof_writer_add(w, stacks[i].pcs, stacks[i].npcs, stacks[i].labelled ? worker_a : NULL,
                             stacks[i].weights[j]) == 0);
  return w;
}

/* ---- reading it back with go tool pprof (pprof_raw.h) ---- */

static const char *exe_path(void) {
  static char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(n > 0);
  exe[n] = 0;
  return exe;
}

static const char *pseudo_name(uintptr_t pc) {
  static const char *const names[] = {"", "grt._System", "grt._ExternalCode", "grt._LostSamples",
                                      "grt._Truncated"};
  return names[pc];
}

/* Does raw sample rs have exactly stack s's frames?  Real frames are
 * matched by address, pseudo-frames (which have none) by their name. */
static int same_stack(const struct pprof_raw *r, const struct pprof_sample *rs,
                      const struct stack *s) {
  if (rs->nlocs != s->npcs) return 0;
  for (int i = 0; i < s->npcs; i++) {
    const struct pprof_loc *l = pprof_frame(r, rs, i);
    if (s->pcs[i] < PROF_PC_PSEUDO_LIMIT) {
      const char *p = pprof_pseudo_name(l);
      if (!p || strcmp(p, pseudo_name(s->pcs[i]))) return 0;
    } else if (l->addr != s->pcs[i]) {
      return 0;
    }
  }
  return 1;
}

/* Checks everything -raw shows; symbolized: whether functions are there. */
static void check_raw(char *out, int symbolized) {
  struct pprof_raw r;
  pprof_parse_raw(out, &r);
  CHECK(strcmp(r.period_type, "cpu nanoseconds") == 0);
  CHECK(r.period == PERIOD);
  CHECK(strcmp(r.types, "samples/count cpu/nanoseconds") == 0);
  CHECK(r.nsamples == nstacks);

  /* Each stack is one sample, with the sum of its weights. */
  for (int i = 0; i < nstacks; i++) {
    const struct stack *s = &stacks[i];
    int found = 0;
    for (int j = 0; j < r.nsamples; j++) {
      const struct pprof_sample *rs = &r.samples[j];
      int labelled = strcmp(rs->labels, "worker:[a]") == 0;
      CHECK(labelled || rs->labels[0] == 0); /* no other labels anywhere */
      if (!same_stack(&r, rs, s) || labelled != s->labelled) continue;
      found++;
      CHECK(rs->count == total_weight(s));
      CHECK(rs->cpu == total_weight(s) * PERIOD);
    }
    if (found != 1) fprintf(stderr, "stack %s found %d times\n", s->what, found);
    CHECK(found == 1);
  }

  /* Functions: the innermost line of each real location. */
  struct {
    uintptr_t pc;
    const char *fn;
  } expect[] = {{PC(leaf_fn), "leaf_fn"},
                {PC(mid_fn), "mid_fn"},
                {PC(root_fn), "root_fn"},
                {PC(other_fn), "other_fn"},
                {0x1000, ""}};
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
    int found = 0;
    for (int j = 0; j < r.nlocs; j++) {
      const struct pprof_loc *l = &r.locs[j];
      if (l->addr != expect[i].pc) continue;
      found++;
      CHECK(strcmp(pprof_loc_fn(l), symbolized ? expect[i].fn : "") == 0);
      /* In this program's mapping; 0x1000 in none.  (A profile without
       * mappings gets a fake one from pprof: no check then.) */
      if (symbolized) CHECK(expect[i].pc != 0x1000 ? l->mapping > 0 : l->mapping == 0);
    }
    CHECK(found == 1); /* one Location per address */
  }
  /* The four pseudo-frames, each one location in no mapping. */
  for (uintptr_t pc = PROF_PC_SYSTEM; pc <= PROF_PC_TRUNCATED; pc++) {
    const struct pprof_loc *l = pprof_pseudo(&r, pseudo_name(pc));
    CHECK(l);
    if (symbolized) CHECK(l->mapping == 0);
  }
  const char *exe_mapping = pprof_mapping_line(&r, exe_path());
  if (symbolized) {
    CHECK(exe_mapping);
    CHECK(strstr(exe_mapping, "[FN][FL][LN]"));
  } else {
    CHECK(exe_mapping == NULL);
  }
  pprof_free(&r);
}

/* Writes w with s to a file in the temporary directory and checks it with
 * go tool pprof. */
static void write_and_check(pprof_writer *w, symbolizer *s, const char *name) {
  char path[256], file[64];
  snprintf(file, sizeof file, "%s.pb.gz", name);
  snprintf(path, sizeof path, "%s", pprof_path(file));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, s, 3000000000LL, fd) == 0);
  CHECK(close(fd) == 0);

  char *raw = pprof_run("-raw", path);
  printf("---- %s: go tool pprof -raw ----\n%s", name, raw);
  check_raw(raw, s != NULL);
  free(raw);

  char *top = pprof_run("-top", path);
  printf("---- %s: go tool pprof -top ----\n%s", name, top);
  const char *names[] = {"grt._System",    "grt._ExternalCode", "grt._LostSamples",
                         "grt._Truncated", "leaf_fn",           "mid_fn",
                         "root_fn",        "other_fn"};
  for (int i = 0; i < 8; i++)
    CHECK((strstr(top, names[i]) != NULL) == (i < 4 || s != NULL));
  CHECK(strstr(top, "Type: cpu"));
  free(top);
}

/* Many distinct, deep stacks: the writer's tables grow and the encoder
 * flushes to zlib many times; the counts still add up. */
static void check_big(void) {
  enum { N = ASAN_SCALED(20000, 5000), DEPTH = 8 };
  pprof_writer *w = pprof_writer_new(PERIOD, 0);
  CHECK(w);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < N; i++) {
      uintptr_t pcs[DEPTH];
      for (int d = 0; d < DEPTH; d++)
        pcs[d] = 0x100000 + (uintptr_t)(i * DEPTH + d) * 16;
      CHECK(pprof_writer_add(w, pcs, DEPTH, NULL, 1 + round) == 0);
    }
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("big.pb.gz"));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, NULL, 1, fd) == 0);
  CHECK(close(fd) == 0);
  pprof_writer_free(w);

  struct pprof_raw r;
  pprof_load(path, &r);
  CHECK(r.nsamples == N);
  CHECK(r.nlocs == N * DEPTH);
  for (int i = 0; i < r.nsamples; i++) {
    CHECK(r.samples[i].count == 3 && r.samples[i].cpu == 3LL * PERIOD);
    CHECK(r.samples[i].nlocs == DEPTH);
  }
  printf("big: %d samples, %d locations read back\n", r.nsamples, r.nlocs);
  pprof_free(&r);
}

int main(void) {
  CHECK(other_fn(1) != 12345); /* the functions run: real code */
  pprof_skip_without_go();
  define_stacks();

  /* Bad arguments. */
  pprof_writer *w = build_writer();
  const char *const odd[] = {"worker", NULL};
  CHECK(pprof_writer_add(w, stacks[0].pcs, 1, odd, 1) == -EINVAL);
  CHECK(pprof_writer_add(w, stacks[0].pcs, -1, NULL, 1) == -EINVAL);
  CHECK(pprof_writer_add(w, stacks[0].pcs, 1, NULL, -1) == -EINVAL);
  CHECK(pprof_writer_new(0, 0) == NULL && errno == EINVAL);

  /* Addresses only, then symbolized: the same writer, written twice. */
  write_and_check(w, NULL, "addresses");
  symbolizer *s = symbolize_open();
  CHECK(s);
  write_and_check(w, s, "symbolized");

  /* Write errors come back as -errno. */
  int fd = open("/dev/null", O_RDONLY);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, s, 1, fd) == -EBADF);
  close(fd);
  fd = open("/dev/full", O_WRONLY);
  if (fd >= 0) {
    CHECK(pprof_writer_write(w, s, 1, fd) == -ENOSPC);
    close(fd);
  }
  symbolize_close(s);
  pprof_writer_free(w);

  check_big();

  printf("ok\n"); /* the temporary directory goes at exit */
  return 0;
}
