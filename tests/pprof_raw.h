/*
 * pprof_raw.h - reading a profile back with the real `go tool pprof`
 * (header-only), for the profiler's tests.  Checking the output of the tool
 * users run, rather than decoding profile.proto ourselves, is the point:
 * a profile the tool misreads fails here.
 *
 *   pprof_skip_without_go()     prints "SKIP: ..." and exits 77 without `go`
 *   pprof_tmpdir()              a private directory, removed at exit
 *   pprof_run(args, path)       `go tool pprof <args> -symbolize=none path`
 *   pprof_run_env(env, args, path)  `<env> go tool pprof <args> path`, which
 *                               symbolizes what the profile leaves unnamed
 *   pprof_load(path, &r)        runs -raw and parses it into r
 *   pprof_frame(), pprof_loc_has_fn(), pprof_find_fn(), pprof_pseudo_name()
 *                               reading a sample's stack (leaf first)
 *   pprof_leaf_is(), pprof_stack_is()
 *                               a sample's leaf, or its whole stack
 *   pprof_check_cpu_profile()   what every CPU profile of grt must satisfy
 *   pprof_dump_sample()         a sample as -raw shows it, for failures
 *   pprof_thread_cpu_ns()       the thread's CPU time, to burn a fixed amount
 *   pprof_burners_start/stop()  goroutines that burn CPU until stopped
 *
 * The -raw text is profile.Profile.String() of the vendored
 * github.com/google/pprof (checked against go1.19's copy):
 *   Samples:
 *   samples/count cpu/nanoseconds
 *            3    3000000: 1 2              values, then location ids, leaf first
 *                   worker:[a]              labels of the sample above, if any
 *   Locations
 *        1: 0x5627df3ec297 M=1 inl_fn /src/x.c:12 s=0
 *                outer_fn /src/x.c:15 s=0   one more line per inlining level
 *        2: 0x0 grt._System :0 s=0          a pseudo-frame: no address, no mapping
 *   Mappings
 *   1: 0x5627df3eb000/0x5627df3f0000/0x2000 /path/exe a009...af52 [FN][FL][LN][IN]
 *                                           the has_* flags the mapping claims
 * A location's first line is its innermost function; newer pprof versions
 * add ":column" after the line, which the parser ignores.
 *
 * Include it after testutil.h (CHECK).
 */
#ifndef GRT_PPROF_RAW_H
#define GRT_PPROF_RAW_H

#include "testutil.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pprof_line {
  char fn[128];   /* "" when the line has no function ("??" in -raw) */
  char file[256]; /* "" when unknown */
  int line;
};

struct pprof_loc {
  int id;
  int mapping; /* 0: in no mapping (pseudo-frames) */
  uint64_t addr;
  struct pprof_line *lines; /* innermost first */
  int nlines;
};

struct pprof_sample {
  int64_t count, cpu;
  int *locs; /* location ids, leaf first */
  int nlocs;
  char labels[256]; /* "key:[v] key2:[v w]", "" for none */
};

struct pprof_raw {
  char period_type[64]; /* "cpu nanoseconds" */
  int64_t period;
  char duration[64]; /* as -raw prints it ("1.02s"); "" if none */
  char types[128];   /* "samples/count cpu/nanoseconds" */
  struct pprof_sample *samples;
  int nsamples;
  struct pprof_loc *locs;
  int nlocs;
  char **mappings; /* the Mappings lines, as printed */
  int nmappings;
  int *index; /* location id -> index in locs, -1 for none */
  int max_id;
};

/* ---- running the tool ---- */

static inline void pprof_skip_without_go(void) {
  if (system("command -v go >/dev/null 2>&1") != 0) {
    printf("SKIP: go (for go tool pprof) is not on PATH\n");
    exit(77);
  }
}

static char pprof_tmp[64];

/* PPROF_KEEP=1 in the environment keeps the directory, to look at the
 * profiles of a failed run. */
static inline void pprof_tmpdir_remove(void) {
  if (!pprof_tmp[0]) return;
  if (getenv("PPROF_KEEP")) {
    fprintf(stderr, "profiles kept in %s\n", pprof_tmp);
    return;
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", pprof_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", pprof_tmp);
  pprof_tmp[0] = 0;
}

/* The directory holds the profiles and is go's HOME and GOCACHE, so the
 * tool writes nothing outside it (no ~/pprof, no shared cache). */
static inline const char *pprof_tmpdir(void) {
  if (!pprof_tmp[0]) {
    snprintf(pprof_tmp, sizeof pprof_tmp, "/tmp/grt_pprof.XXXXXX");
    CHECK(mkdtemp(pprof_tmp));
    atexit(pprof_tmpdir_remove);
  }
  return pprof_tmp;
}

/* The path of file name in pprof_tmpdir(), in a static buffer (copy it to
 * keep it past the next call). */
static inline const char *pprof_path(const char *name) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", pprof_tmpdir(), name);
  return path;
}

/* Runs `<env> go tool pprof <args> path` (env: "VAR=value ...", or "") and
 * returns its stdout and stderr (malloc'd).  The tool failing fails the
 * test, with its output.  pprof symbolizes what the profile leaves
 * unsymbolized unless args say otherwise. */
static inline char *pprof_run_env(const char *env, const char *args, const char *path) {
  const char *dir = pprof_tmpdir();
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "HOME=%s GOCACHE=%s/gocache GOFLAGS= %s go tool pprof %s '%s' 2>&1",
           dir, dir, env, args, path);
  fflush(NULL);
  FILE *p = popen(cmd, "r");
  CHECK(p);
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  CHECK(out);
  size_t n;
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
  if (status != 0) fprintf(stderr, "go tool pprof %s %s failed:\n%s\n", args, path, out);
  CHECK(status == 0);
  return out;
}

/* `go tool pprof <args> -symbolize=none path`: the profile's own symbols
 * are what is under test. */
static inline char *pprof_run(const char *args, const char *path) {
  char all[512];
  snprintf(all, sizeof all, "%s -symbolize=none", args);
  return pprof_run_env("", all, path);
}

/* ---- parsing -raw ---- */

static inline void *pprof_grow(void *p, int n, int *cap, size_t size) {
  if (n < *cap) return p;
  *cap = *cap ? 2 * *cap : 64;
  p = realloc(p, (size_t)*cap * size);
  CHECK(p);
  return p;
}

/* One line of a location: "fn file:line s=N[(sysname)]" or "??". */
static inline void pprof_parse_line(const char *s, struct pprof_line *ln) {
  memset(ln, 0, sizeof *ln);
  s += strspn(s, " ");
  if (strncmp(s, "??", 2) == 0 && (s[2] == 0 || s[2] == ' ')) return;
  size_t n = strcspn(s, " ");
  snprintf(ln->fn, sizeof ln->fn, "%.*s", (int)n, s);
  s += n;
  s += strspn(s, " ");
  n = strcspn(s, " ");
  if (n == 0 || strncmp(s, "s=", 2) == 0) return; /* no file */
  /* file:line, or file:line:column in newer pprof */
  snprintf(ln->file, sizeof ln->file, "%.*s", (int)n, s);
  char *c1 = strrchr(ln->file, ':');
  if (!c1) return;
  *c1 = 0;
  ln->line = atoi(c1 + 1);
  char *c2 = strrchr(ln->file, ':');
  if (c2 && c2[1] >= '0' && c2[1] <= '9') { /* c1 ended the column */
    *c2 = 0;
    ln->line = atoi(c2 + 1);
  }
}

/*
 * Parses go tool pprof -raw output (modified in place) into r.  Before
 * "Samples:", lines it does not know (a warning from the tool) are ignored.
 */
static inline void pprof_parse_raw(char *out, struct pprof_raw *r) {
  memset(r, 0, sizeof *r);
  enum { HEADER, SAMPLES, LOCATIONS, MAPPINGS } part = HEADER;
  int cap_s = 0, cap_l = 0, cap_m = 0;
  char *save = NULL;
  for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    int id, used;
    unsigned long long addr;
    if (strcmp(line, "Samples:") == 0) {
      part = SAMPLES;
      line = strtok_r(NULL, "\n", &save);
      CHECK(line);
      snprintf(r->types, sizeof r->types, "%s", line);
    } else if (strcmp(line, "Locations") == 0) {
      part = LOCATIONS;
    } else if (strcmp(line, "Mappings") == 0) {
      part = MAPPINGS;
    } else if (part == HEADER) {
      sscanf(line, "PeriodType: %63[^\n]", r->period_type);
      sscanf(line, "Period: %" SCNd64, &r->period);
      sscanf(line, "Duration: %63s", r->duration);
    } else if (part == SAMPLES) {
      struct pprof_sample s = {0};
      if (sscanf(line, " %" SCNd64 " %" SCNd64 ":%n", &s.count, &s.cpu, &used) == 2) {
        int cap = 0;
        char *save2 = NULL;
        for (char *t = strtok_r(line + used, " ", &save2); t; t = strtok_r(NULL, " ", &save2)) {
          s.locs = pprof_grow(s.locs, s.nlocs, &cap, sizeof *s.locs);
          s.locs[s.nlocs++] = atoi(t);
        }
        r->samples = pprof_grow(r->samples, r->nsamples, &cap_s, sizeof *r->samples);
        r->samples[r->nsamples++] = s;
      } else {
        /* a label line belongs to the sample above it */
        CHECK(r->nsamples > 0);
        struct pprof_sample *last = &r->samples[r->nsamples - 1];
        size_t have = strlen(last->labels);
        snprintf(last->labels + have, sizeof last->labels - have, "%s%s", have ? " " : "",
                 line + strspn(line, " "));
      }
    } else if (part == LOCATIONS && sscanf(line, " %d: %llx%n", &id, &addr, &used) == 2) {
      struct pprof_loc l = {.id = id, .addr = addr};
      const char *rest = line + used;
      rest += strspn(rest, " ");
      if (sscanf(rest, "M=%d", &l.mapping) == 1) {
        rest += strcspn(rest, " ");
        rest += strspn(rest, " ");
      }
      if (strncmp(rest, "[F]", 3) == 0) rest += 3;
      rest += strspn(rest, " ");
      if (*rest) {
        l.lines = calloc(1, sizeof *l.lines);
        CHECK(l.lines);
        pprof_parse_line(rest, &l.lines[l.nlines++]);
      }
      r->locs = pprof_grow(r->locs, r->nlocs, &cap_l, sizeof *r->locs);
      r->locs[r->nlocs++] = l;
    } else if (part == LOCATIONS) {
      /* another line (inlining level) of the location above */
      CHECK(r->nlocs > 0 && line[0] == ' ');
      struct pprof_loc *l = &r->locs[r->nlocs - 1];
      l->lines = realloc(l->lines, (size_t)(l->nlines + 1) * sizeof *l->lines);
      CHECK(l->lines);
      pprof_parse_line(line, &l->lines[l->nlines++]);
    } else if (part == MAPPINGS) {
      r->mappings = pprof_grow(r->mappings, r->nmappings, &cap_m, sizeof *r->mappings);
      r->mappings[r->nmappings] = strdup(line);
      CHECK(r->mappings[r->nmappings]);
      r->nmappings++;
    }
  }
  for (int i = 0; i < r->nlocs; i++) {
    CHECK(r->locs[i].id > 0);
    if (r->locs[i].id > r->max_id) r->max_id = r->locs[i].id;
  }
  r->index = malloc((size_t)(r->max_id + 1) * sizeof *r->index);
  CHECK(r->index);
  for (int i = 0; i <= r->max_id; i++)
    r->index[i] = -1;
  for (int i = 0; i < r->nlocs; i++) {
    CHECK(r->index[r->locs[i].id] == -1); /* ids are unique */
    r->index[r->locs[i].id] = i;
  }
}

static inline void pprof_free(struct pprof_raw *r) {
  for (int i = 0; i < r->nsamples; i++)
    free(r->samples[i].locs);
  for (int i = 0; i < r->nlocs; i++)
    free(r->locs[i].lines);
  for (int i = 0; i < r->nmappings; i++)
    free(r->mappings[i]);
  free(r->samples);
  free(r->locs);
  free(r->mappings);
  free(r->index);
  memset(r, 0, sizeof *r);
}

/* Runs -raw on the profile at path and parses it into r. */
static inline void pprof_load(const char *path, struct pprof_raw *r) {
  char *out = pprof_run("-raw", path);
  pprof_parse_raw(out, r);
  free(out);
}

/* ---- reading stacks ---- */

static inline const struct pprof_loc *pprof_loc(const struct pprof_raw *r, int id) {
  CHECK(id > 0 && id <= r->max_id && r->index[id] >= 0); /* every id a sample names exists */
  return &r->locs[r->index[id]];
}

/* Frame i of sample s (0: the leaf), or NULL past the outermost frame. */
static inline const struct pprof_loc *pprof_frame(const struct pprof_raw *r,
                                                  const struct pprof_sample *s, int i) {
  return i >= 0 && i < s->nlocs ? pprof_loc(r, s->locs[i]) : NULL;
}

/* The innermost function of l ("" for none). */
static inline const char *pprof_loc_fn(const struct pprof_loc *l) {
  return l && l->nlines > 0 ? l->lines[0].fn : "";
}

/* Is name the function fn, or a GCC clone of it (fn.constprop.0, ...)? */
static inline int pprof_fn_is(const char *name, const char *fn) {
  size_t n = strlen(fn);
  return strncmp(name, fn, n) == 0 && (name[n] == 0 || name[n] == '.');
}

/* Does any line of l (any inlining level) belong to function fn? */
static inline int pprof_loc_has_fn(const struct pprof_loc *l, const char *fn) {
  for (int i = 0; l && i < l->nlines; i++)
    if (pprof_fn_is(l->lines[i].fn, fn)) return 1;
  return 0;
}

/* The first frame of s at or after frame `from` that has function fn, or -1. */
static inline int pprof_find_fn(const struct pprof_raw *r, const struct pprof_sample *s,
                                const char *fn, int from) {
  for (int i = from < 0 ? 0 : from; i < s->nlocs; i++)
    if (pprof_loc_has_fn(pprof_frame(r, s, i), fn)) return i;
  return -1;
}

/* The pseudo-frame name of l ("grt._System", ...), or NULL if l is a real
 * location.  Pseudo-frames have no address. */
static inline const char *pprof_pseudo_name(const struct pprof_loc *l) {
  if (!l || l->addr != 0 || l->nlines != 1) return NULL;
  return strncmp(l->lines[0].fn, "grt._", 5) == 0 ? l->lines[0].fn : NULL;
}

/* The location of the pseudo-frame called name, or NULL if the profile has
 * none. */
static inline const struct pprof_loc *pprof_pseudo(const struct pprof_raw *r, const char *name) {
  for (int i = 0; i < r->nlocs; i++) {
    const char *p = pprof_pseudo_name(&r->locs[i]);
    if (p && strcmp(p, name) == 0) return &r->locs[i];
  }
  return NULL;
}

/* Does s end (outermost frame) with the pseudo-frame name? */
static inline int pprof_ends_with(const struct pprof_raw *r, const struct pprof_sample *s,
                                  const char *name) {
  const char *p = pprof_pseudo_name(pprof_frame(r, s, s->nlocs - 1));
  return p && strcmp(p, name) == 0;
}

/* Is the leaf (frame 0) of s in function fn (at any inlining level)? */
static inline int pprof_leaf_is(const struct pprof_raw *r, const struct pprof_sample *s,
                                const char *fn) {
  return pprof_loc_has_fn(pprof_frame(r, s, 0), fn);
}

/*
 * Is s's stack, leaf first, exactly the frames of pattern: a NULL-terminated
 * list of function (or pseudo-frame) names, one per frame; a name written
 * "?name" is a frame that may be missing.  Frames of mapping glue (an id
 * from pprof_mapping_id; 0 for none) may also come between pattern frames,
 * after the leaf: the runtime's own frames (trampolines, static helpers)
 * are its business, so a test that names only its own functions and the
 * runtime's entry points does not break when the runtime is refactored.
 */
static inline int pprof_stack_is(const struct pprof_raw *r, const struct pprof_sample *s,
                                 const char *const pattern[], int glue) {
  int i = 0;
  for (int k = 0; pattern[k];) {
    int optional = pattern[k][0] == '?';
    const struct pprof_loc *l = pprof_frame(r, s, i);
    if (l && pprof_loc_has_fn(l, pattern[k] + optional)) {
      i++;
      k++;
    } else if (optional) {
      k++;
    } else if (l && i > 0 && glue && l->mapping == glue) {
      i++;
    } else {
      return 0;
    }
  }
  return i == s->nlocs;
}

/* Does any frame of s have function fn (pseudo-frames included)? */
static inline int pprof_has_fn(const struct pprof_raw *r, const struct pprof_sample *s,
                               const char *fn) {
  return pprof_find_fn(r, s, fn, 0) >= 0;
}

static inline int64_t pprof_total_count(const struct pprof_raw *r) {
  int64_t t = 0;
  for (int i = 0; i < r->nsamples; i++)
    t += r->samples[i].count;
  return t;
}

/* The first Mappings line containing text, or NULL. */
static inline const char *pprof_mapping_line(const struct pprof_raw *r, const char *text) {
  for (int i = 0; i < r->nmappings; i++)
    if (strstr(r->mappings[i], text)) return r->mappings[i];
  return NULL;
}

/* The id of the first mapping whose Mappings line contains text (as
 * "libgrt.so"), or 0. */
static inline int pprof_mapping_id(const struct pprof_raw *r, const char *text) {
  const char *line = pprof_mapping_line(r, text);
  return line ? atoi(line) : 0;
}

/* Prints sample s with its locations, in -raw's layout, after why. */
static inline void pprof_dump_sample(FILE *f, const char *why, const struct pprof_raw *r,
                                     const struct pprof_sample *s) {
  fprintf(f, "%s:\n  %10lld %10lld:", why, (long long)s->count, (long long)s->cpu);
  for (int i = 0; i < s->nlocs; i++)
    fprintf(f, " %d", s->locs[i]);
  fprintf(f, "%s%s\n", s->labels[0] ? "  " : "", s->labels);
  for (int i = 0; i < s->nlocs; i++) {
    const struct pprof_loc *l = pprof_frame(r, s, i);
    fprintf(f, "  %6d: 0x%llx", l->id, (unsigned long long)l->addr);
    if (l->mapping) fprintf(f, " M=%d", l->mapping);
    for (int j = 0; j < l->nlines; j++)
      fprintf(f, "%s%s %s:%d\n", j ? "                 " : " ",
              l->lines[j].fn[0] ? l->lines[j].fn : "??", l->lines[j].file, l->lines[j].line);
    if (l->nlines == 0) fprintf(f, "\n");
  }
}

/*
 * What every CPU profile grt writes satisfies, whatever ran: the sample
 * types and period (1e9 / hz); each sample's cpu is its count times the
 * period; every stack has a frame; a pseudo-frame has no address and no
 * mapping, and is only ever the outermost frame.  Returns the number of
 * samples (rows).
 */
static inline int pprof_check_cpu_profile(const struct pprof_raw *r, int hz) {
  if (strcmp(r->types, "samples/count cpu/nanoseconds") != 0 ||
      strcmp(r->period_type, "cpu nanoseconds") != 0 || r->period != 1000000000LL / hz) {
    fprintf(stderr, "sample types \"%s\", period type \"%s\", period %lld (hz %d)\n", r->types,
            r->period_type, (long long)r->period, hz);
    CHECK(0);
  }
  for (int i = 0; i < r->nlocs; i++) {
    const struct pprof_loc *l = &r->locs[i];
    if (l->addr == 0) CHECK(pprof_pseudo_name(l) && l->mapping == 0);
  }
  for (int i = 0; i < r->nsamples; i++) {
    const struct pprof_sample *s = &r->samples[i];
    int ok = s->nlocs > 0 && s->count > 0 && s->cpu == s->count * r->period;
    for (int j = 0; ok && j < s->nlocs - 1; j++)
      ok = pprof_pseudo_name(pprof_frame(r, s, j)) == NULL;
    if (!ok) {
      pprof_dump_sample(stderr, "malformed sample", r, s);
      CHECK(0);
    }
  }
  return r->nsamples;
}

/* ---- for the programs being profiled ---- */

/* The calling thread's CPU time in nanoseconds.  Tests burn a fixed amount
 * of CPU rather than wall time: a loaded machine makes them slower, but
 * gives them the same number of samples. */
static inline int64_t pprof_thread_cpu_ns(void) {
  struct timespec ts;
  CHECK(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Goroutines that burn CPU until stopped, as background load.  They yield
 * now and then: scheduling is cooperative, and the goroutine under test
 * needs a P back after each blocking call. */
struct pprof_burners {
  _Atomic int stop;
  grt_wg done;
};

static volatile unsigned long pprof_burn_sink;

static inline void pprof_burner(void *arg) {
  struct pprof_burners *b = arg;
  while (!atomic_load(&b->stop)) {
    for (int i = 0; i < 20000; i++)
      pprof_burn_sink += (unsigned long)i;
    grt_yield();
  }
  grt_wg_done(&b->done);
}

static inline void pprof_burners_start(struct pprof_burners *b, int n) {
  grt_wg_add(&b->done, n);
  for (int i = 0; i < n; i++)
    CHECK(grt_go(pprof_burner, b) == 0);
}

static inline void pprof_burners_stop(struct pprof_burners *b) {
  atomic_store(&b->stop, 1);
  grt_wg_wait(&b->done);
}

#endif /* GRT_PPROF_RAW_H */
