/*
 * prof_cfi_zlib: whole stacks through libraries built without frame
 * pointers (Debian's zlib and glibc), end to end, read back with the real
 * `go tool pprof -raw`.  Issue 11, test 3.
 *
 * zlib: goroutine g_zlib runs zlib_body under grt_prof_do(work=zlib),
 * which calls grt_extcall(ext_compress); ext_compress calls zlib's
 * compress2 on 128 KiB of text at level 6 for a fixed amount of CPU.
 * libc: goroutine g_libc runs libc_body under grt_prof_do(work=libc),
 * which calls malloc, free (also of blocks large enough to be mmapped) and
 * qsort, whose comparator cmp_work does some work of its own, directly
 * from goroutine code.
 *
 * Profiled at 1000 Hz and at 4000 Hz (two sessions).  Samples are told
 * apart by their label (work:[zlib] or work:[libc]), not by their frames,
 * so a sample that lost its goroutine's frames is still checked.  For each
 * labelled sample whose leaf is in a library (libz, libc, the vDSO, or
 * the sanitizer runtime that intercepts malloc, free and qsort in the ASan
 * build), or in the test's executable, the stack, leaf first, must be:
 *   [cmp_work | a PLT stub]       the comparator, or compress2@plt etc.
 *   library frames                a run of frames of those libraries
 *   the test's frames, exactly:   ext_compress grt_extcall zlib_body
 *                                 grt_prof_do g_zlib sched_gostart
 *                                 sched_goentry (libgrt's own frames may
 *                                 come between), or libc_body ... g_libc
 * (a leaf in the test's functions starts that list where it is named),
 * and no pseudo-frame (so none ends in grt._Truncated).  The run's
 * outermost library frame is the function the test called, by address
 * (dladdr1's symbol size, so it does not depend on symbolization): for
 * the zlib samples whose run has a libz frame, compress2 (which must also
 * be named compress2 in the profile); otherwise one of malloc, free,
 * qsort, qsort_r (glibc's qsort tail-calls it) and clock_gettime (the CPU
 * clock the test reads), by address or by name (the ASan build's
 * interceptors: __interceptor_free ...).  A frame-pointer walk through zlib
 * jumps from a zlib frame straight to grt_extcall or g_zlib, and through
 * glibc loses the goroutine function: both fail here.
 *
 * Prints the counts per session: samples, leaves in libz and libc, how
 * many show compress2 and deflate, the comparator's samples.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "testutil.h"
#include "pprof_raw.h"

#define BURN_NS (ASAN_SCALED(1000, 700) * 1000000LL)
#define SRC_LEN (128 * 1024)
#define NSORT 2000

volatile unsigned long sink;
static grt_chan *done;
static unsigned char *src, *dst;
static uLong dst_cap;

/* ---- the zlib workload ---- */

/* Text from a small vocabulary: deflate finds matches, so its match
 * finder and its slow path do the work, as in real use. */
static void make_text(void) {
  static const char *const words[] = {"goroutine", "stack", "frame",   "pointer", "unwind",
                                      "table",     "zlib",  "deflate", "sample",  "profile",
                                      "signal",    "the",   "of",      "and",     "a"};
  src = malloc(SRC_LEN);
  CHECK(src);
  unsigned seed = 12345;
  size_t n = 0;
  while (n < SRC_LEN) {
    seed = seed * 1103515245u + 12345u;
    const char *w = words[(seed >> 16) % (sizeof words / sizeof *words)];
    for (size_t i = 0; w[i] && n < SRC_LEN; i++)
      src[n++] = (unsigned char)w[i];
    if (n < SRC_LEN) src[n++] = (seed >> 8) % 7 ? ' ' : '\n';
  }
  dst_cap = compressBound(SRC_LEN);
  dst = malloc(dst_cap);
  CHECK(dst);
}

/* External code, on the thread's system stack. */
__attribute__((noinline)) void *ext_compress(void *arg) {
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    uLongf len = dst_cap;
    CHECK(compress2(dst, &len, src, SRC_LEN, 6) == Z_OK);
    sink += len;
  } while (pprof_thread_cpu_ns() < end);
  return arg;
}

__attribute__((noinline)) void zlib_body(void *arg) {
  sink += (uintptr_t)grt_extcall(ext_compress, arg); /* not a tail call */
}

__attribute__((noinline)) void g_zlib(void *arg) {
  grt_labels *l = grt_labels_make("work", "zlib", NULL);
  CHECK(l);
  grt_prof_do(l, zlib_body, arg);
  grt_labels_release(l);
  CHECK(grt_chan_send(done, NULL) == 0);
}

/* ---- the libc workload, from goroutine code ---- */

/* A comparator that works: its samples are goroutine code called by
 * glibc's sort, called by goroutine code. */
__attribute__((noinline)) int cmp_work(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b, h = x ^ y;
  for (int i = 0; i < 16; i++)
    h = h * 2654435761u + (unsigned)i;
  sink += h & 1;
  return (x > y) - (x < y);
}

__attribute__((noinline)) void libc_body(void *arg) {
  (void)arg;
  static unsigned nums[NSORT];
  void *blocks[64];
  unsigned seed = 777;
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    for (int round = 0; round < 20; round++) {
      for (int i = 0; i < 64; i++) {
        seed = seed * 1103515245u + 12345u;
        /* mostly small blocks; now and then one that is mmapped */
        size_t n = i == 0 && round % 4 == 0 ? 300 * 1024 : 16 + (seed >> 16) % 4000;
        blocks[i] = malloc(n);
        CHECK(blocks[i]);
        ((volatile char *)blocks[i])[0] = (char)i;
      }
      for (int i = 63; i >= 0; i -= 2)
        free(blocks[i]);
      for (int i = 0; i < 64; i += 2)
        free(blocks[i]);
    }
    for (int i = 0; i < NSORT; i++) {
      seed = seed * 1103515245u + 12345u;
      nums[i] = seed >> 8;
    }
    qsort(nums, NSORT, sizeof *nums, cmp_work);
    sink += nums[0];
  } while (pprof_thread_cpu_ns() < end);
}

__attribute__((noinline)) void g_libc(void *arg) {
  grt_labels *l = grt_labels_make("work", "libc", NULL);
  CHECK(l);
  grt_prof_do(l, libc_body, arg);
  grt_labels_release(l);
  CHECK(grt_chan_send(done, NULL) == 0);
}

/* ---- checking ---- */

/* The address range of the function at fn (its dynamic symbol's size). */
struct range {
  const char *name;
  uintptr_t lo, hi;
};

static struct range range_of(const char *name, void *fn) {
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  CHECK(dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && info.dli_saddr);
  CHECK(sym->st_size > 0);
  uintptr_t lo = (uintptr_t)info.dli_saddr;
  return (struct range){name, lo, lo + sym->st_size};
}

static struct range r_compress2, r_libc_fns[5];
static int n_libc_fns;

static void find_ranges(void) {
  r_compress2 = range_of("compress2", (void *)compress2);
  /* As this program calls them: the sanitizer's interceptors in the ASan
   * build, glibc's functions otherwise. */
  r_libc_fns[n_libc_fns++] = range_of("malloc", (void *)malloc);
  r_libc_fns[n_libc_fns++] = range_of("free", (void *)free);
  r_libc_fns[n_libc_fns++] = range_of("qsort", (void *)qsort);
  r_libc_fns[n_libc_fns++] = range_of("clock_gettime", (void *)clock_gettime);
  void *qsort_r_fn = dlsym(RTLD_DEFAULT, "qsort_r"); /* glibc's qsort tail-calls it */
  CHECK(qsort_r_fn);
  r_libc_fns[n_libc_fns++] = range_of("qsort_r", qsort_r_fn);
}

static const char *in_range(uintptr_t a, const struct range *rs, int n) {
  for (int i = 0; i < n; i++)
    if (a >= rs[i].lo && a < rs[i].hi) return rs[i].name;
  return NULL;
}

/* Is l (at some inlining level) one of the functions the libc workload
 * calls?  By name as well as by address: ASan's interceptors have aliases
 * and split parts outside the range of the symbol dladdr1 finds. */
static int named_entry(const struct pprof_loc *l) {
  static const char *const names[] = {"malloc",
                                      "free",
                                      "qsort",
                                      "qsort_r",
                                      "clock_gettime",
                                      "__interceptor_malloc",
                                      "__interceptor_free",
                                      "__interceptor_qsort",
                                      "__interceptor_qsort_r",
                                      "__interceptor_clock_gettime",
                                      NULL};
  for (int i = 0; names[i]; i++)
    if (pprof_loc_has_fn(l, names[i])) return 1;
  return 0;
}

/* Mapping ids of the libraries whose frames make a run. */
struct maps {
  int libz, libc, vdso, glue, exe, san[2];
};

static int is_lib(const struct maps *m, int id) {
  return id &&
         (id == m->libz || id == m->libc || id == m->vdso || id == m->san[0] || id == m->san[1]);
}

/* Do frames from..end of s match pattern exactly (libgrt's frames may come
 * between pattern frames)? */
static int tail_is(const struct pprof_raw *r, const struct pprof_sample *s, int from,
                   const char *const pattern[], int glue) {
  int i = from;
  for (int k = 0; pattern[k];) {
    int optional = pattern[k][0] == '?';
    const struct pprof_loc *l = pprof_frame(r, s, i);
    if (l && pprof_loc_has_fn(l, pattern[k] + optional)) {
      i++;
      k++;
    } else if (optional) {
      k++;
    } else if (l && l->mapping == glue) {
      i++;
    } else {
      return 0;
    }
  }
  return i == s->nlocs;
}

struct counts {
  int64_t labelled, checked, libz_leaf, libc_leaf, cmp_leaf, own_leaf, with_compress2, with_deflate,
      libz_to_libc, runtime_leaf, plt_leaf;
};

/* A sample that breaks the rules: the first few are printed, all counted
 * (the session fails at the end, with the count). */
static int64_t bad, bad_shown;

static void fail(const struct pprof_raw *r, const struct pprof_sample *s, const char *why) {
  if (bad_shown++ < 4) pprof_dump_sample(stderr, why, r, s);
  bad += s->count;
}

static void check_sample(const struct pprof_raw *r, const struct pprof_sample *s,
                         const struct maps *m, int zlib, struct counts *c) {
  static const char *const zlib_tail[] = {"ext_compress",  "grt_extcall", "zlib_body",
                                          "?grt_prof_do",  "g_zlib",      "sched_gostart",
                                          "sched_goentry", NULL};
  static const char *const libc_tail[] = {"libc_body",     "?grt_prof_do",  "g_libc",
                                          "sched_gostart", "sched_goentry", NULL};
  c->labelled += s->count;
  const struct pprof_loc *leaf = pprof_frame(r, s, 0);
  int i = 0; /* the first frame after the leaf's own part */
  if (pprof_loc_has_fn(leaf, "cmp_work")) {
    c->cmp_leaf += s->count;
    i = 1;
  } else if (is_lib(m, leaf->mapping)) {
    if (leaf->mapping == m->libz) c->libz_leaf += s->count;
    if (leaf->mapping != m->libz) c->libc_leaf += s->count;
  } else if (leaf->mapping == m->exe && !leaf->nlines) {
    c->plt_leaf += s->count; /* a PLT stub (compress2@plt, malloc@plt ...) */
    i = 1;
  } else if (leaf->mapping == m->exe) {
    c->own_leaf += s->count;
  } else {
    /* the runtime's own frames (grt_extcall's entry and exit, labels,
     * the scheduler): not this test's subject */
    c->runtime_leaf += s->count;
    return;
  }
  c->checked += s->count;
  if (i == 1 && pprof_loc_has_fn(leaf, "cmp_work") &&
      (zlib || s->nlocs < 2 || !is_lib(m, pprof_frame(r, s, 1)->mapping)))
    return fail(r, s, "cmp_work's caller is not the library that sorts");
  /* the run of library frames, and its outermost frame */
  int run = i, has_libz = 0;
  while (run < s->nlocs && is_lib(m, pprof_frame(r, s, run)->mapping)) {
    has_libz |= pprof_frame(r, s, run)->mapping == m->libz;
    run++;
  }
  /* libc called by the runtime's own frames (grt_extcall's return waking
   * another M: syscall <- futex <- grt_extcall, after ext_compress has
   * returned; the tables' check after it: dl_iterate_phdr <- unw_stale, on
   * g0, under grt._System) is the runtime's work, not this test's
   * subject. */
  if (run > i && !has_libz && run < s->nlocs && pprof_frame(r, s, run)->mapping == m->glue) {
    c->runtime_leaf += s->count;
    return;
  }
  for (int j = 0; j < s->nlocs; j++)
    if (pprof_pseudo_name(pprof_frame(r, s, j))) return fail(r, s, "a pseudo-frame (lost callers)");
  if (run > i) {
    const struct pprof_loc *outer = pprof_frame(r, s, run - 1);
    uintptr_t a = (uintptr_t)outer->addr;
    if (has_libz) {
      if (!zlib) return fail(r, s, "zlib frames under work:[libc]");
      if (!in_range(a, &r_compress2, 1) || !pprof_loc_has_fn(outer, "compress2"))
        return fail(r, s, "zlib frames that do not end in compress2 (callers skipped)");
      c->with_compress2 += s->count;
      if (pprof_find_fn(r, s, "deflate", 0) >= 0) c->with_deflate += s->count;
      if (leaf->mapping != m->libz) c->libz_to_libc += s->count;
    } else if (!in_range(a, r_libc_fns, n_libc_fns) && !named_entry(outer)) {
      if (bad_shown < 4)
        fprintf(stderr, "outermost library frame %#lx is in none of:", (unsigned long)a);
      for (int k = 0; bad_shown < 4 && k < n_libc_fns; k++)
        fprintf(stderr, " %s [%#lx, %#lx)%s", r_libc_fns[k].name, (unsigned long)r_libc_fns[k].lo,
                (unsigned long)r_libc_fns[k].hi, k + 1 == n_libc_fns ? "\n" : "");
      return fail(r, s, "library frames that do not end in a function the test calls");
    }
  }
  /* A leaf in the test's own code starts the pattern where it is. */
  const char *const *want = zlib ? zlib_tail : libc_tail;
  if (run == 0)
    while (want[0] && !pprof_loc_has_fn(leaf, want[0] + (want[0][0] == '?')))
      want++;
  if (!want[0] || !tail_is(r, s, run, want, m->glue))
    fail(r, s,
         zlib ? "want <library frames> ext_compress grt_extcall zlib_body g_zlib ..."
              : "want [cmp_work] <library frames> libc_body g_libc ...");
}

static void check_profile(const char *path, int hz) {
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, hz);
  struct maps m = {
      .libz = pprof_mapping_id(&r, "/libz.so"),
      .libc = pprof_mapping_id(&r, "/libc.so"),
      .vdso = pprof_mapping_id(&r, "[vdso]"),
      .glue = pprof_mapping_id(&r, "libgrt.so"),
      .exe = pprof_mapping_id(&r, "/prof_cfi_zlib "),
      .san = {pprof_mapping_id(&r, "/libasan.so"), pprof_mapping_id(&r, "/libubsan.so")},
  };
  CHECK(m.libz > 0 && m.libc > 0 && m.glue > 0 && m.exe > 0);
  struct counts z = {0}, c = {0};
  bad = bad_shown = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    if (strstr(s->labels, "work:[zlib]"))
      check_sample(&r, s, &m, 1, &z);
    else if (strstr(s->labels, "work:[libc]"))
      check_sample(&r, s, &m, 0, &c);
  }
  printf("%d Hz: %lld samples in all\n", hz, (long long)pprof_total_count(&r));
  printf("  work:[zlib]: %lld samples, %lld checked: %lld with a libz leaf,"
         " %lld with a libc (vDSO, ASan) leaf (%lld of them called by zlib),"
         " %lld in the test's code, %lld in its PLT; %lld through compress2,"
         " %lld through deflate; %lld in the runtime\n",
         (long long)z.labelled, (long long)z.checked, (long long)z.libz_leaf,
         (long long)z.libc_leaf, (long long)z.libz_to_libc, (long long)z.own_leaf,
         (long long)z.plt_leaf, (long long)z.with_compress2, (long long)z.with_deflate,
         (long long)z.runtime_leaf);
  printf("  work:[libc]: %lld samples, %lld checked: %lld with a libc (vDSO, ASan) leaf,"
         " %lld in cmp_work (called by qsort), %lld in the test's other code,"
         " %lld in its PLT; %lld in the runtime\n",
         (long long)c.labelled, (long long)c.checked, (long long)c.libc_leaf, (long long)c.cmp_leaf,
         (long long)c.own_leaf, (long long)c.plt_leaf, (long long)c.runtime_leaf);
  printf("  samples that lost frames: %lld\n", (long long)bad);
  fflush(stdout);
  CHECK(bad == 0);
  /* About BURN_NS of CPU each: hundreds of samples at 1000 Hz.  The case
   * is exercised only if zlib's own code and glibc's were sampled. */
  CHECK(z.libz_leaf >= 50 && z.with_deflate >= 50);
  CHECK(c.libc_leaf >= 20 && c.cmp_leaf >= 20);
  pprof_free(&r);
}

static void session(int hz) {
  char path[256];
  char name[64];
  snprintf(name, sizeof name, "zlib_%d.pb.gz", hz);
  snprintf(path, sizeof path, "%s", pprof_path(name));
  grt_prof_config cfg = {.path = path, .hz = hz};
  CHECK(grt_prof_start(&cfg) == 0);
  CHECK(grt_go(g_zlib, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);
  CHECK(grt_go(g_libc, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);
  CHECK(grt_prof_stop() == 0);
  check_profile(path, hz);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  done = grt_chan_make(0, 0);
  CHECK(done);
  make_text();
  find_ranges();
  session(1000);
  session(4000);
  printf("prof_cfi_zlib: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return grt_main(run, argc, argv);
}
