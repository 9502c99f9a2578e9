/*
 * pprof.c - aggregating CPU samples by (stack, labels) and writing them as a
 * gzipped profile.proto (hand-encoded, as Go's runtime/pprof does).
 *
 * Invariants:
 *  - The writer owns one allocation per distinct sample (its struct, pcs,
 *    label pointers and label strings together); w->index maps a sample's
 *    content hash to its position in w->samples, so equal (stack, labels)
 *    pairs always land in the same sample.
 *  - pprof_writer_write does not modify the samples: every table it needs
 *    (strings, locations, functions) lives in a struct enc freed before it
 *    returns, so a write can fail (ENOMEM, EBADF, ENOSPC) and be retried.
 *  - Strings in the string table are borrowed, never copied: they belong
 *    to the writer's samples or to the symbolizer, both alive for the write.
 *  - Every top-level field is complete before the encoded bytes are handed
 *    to zlib, so memory stays bounded by the largest single field.
 *  - A mapping claims to be symbolized (has_functions, has_filenames,
 *    has_line_numbers) only for what every one of its locations got; an
 *    unnamed pc keeps its address, mapping and build ID and no made-up
 *    name, so that pprof, Parca or Pyroscope can symbolize it later.
 *
 * Not async-signal-safe: the collector and the final write use it.
 */
#define _GNU_SOURCE
#include "pprof/pprof.h"
#include "pprof/profile_proto.h"

#include "base/buf.h"
#include "base/hash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Encoded bytes are handed to zlib once this many are buffered. */
#define FLUSH_AT (64 * 1024)
/* Deepest inline chain written per location (the symbolizer's own limit). */
#define MAX_LINES 64

/* ---- the writer: samples aggregated by (stack, labels) ---- */

struct sample {
  const uintptr_t *pcs;      /* npcs addresses, leaf first */
  const char *const *labels; /* 2 * nlabels: key, value, ... */
  int npcs, nlabels;
  int64_t count;
  uint64_t cpu; /* unsigned: a huge weight wraps rather than being UB */
  /* pcs, label pointers and label strings follow in the same block */
};

/* A pc's source lines, named while its module was loaded
 * (pprof_writer_name_new): the strings are the writer's own copies. */
struct named_pc {
  uintptr_t pc;
  int n;
  struct symbolize_line lines[];
};

struct pprof_writer {
  int64_t period_ns, time_nanos;
  const char *types[2], *units[2]; /* the sample's values */
  int ntypes, period_type;         /* the period's type is types[period_type] */
  bool cpu;                        /* pprof_writer_add: value 1 is weight * period_ns */
  struct sample **samples;
  size_t nsamples, samples_cap;
  struct hash_index index;
  struct named_pc **named; /* pcs named early, each in one block */
  size_t nnamed, named_cap;
  struct hash_index named_ix;
  size_t named_upto; /* samples[0..named_upto) had their pcs named */
  char **comments;   /* pprof_writer_comment's, each malloc'd */
  size_t ncomments, comments_cap;
};

/* What pprof_writer_add looks up: not yet copied. */
struct sample_key {
  const uintptr_t *pcs;
  const char *const *labels;
  int npcs, nlabels;
};

static int sample_eq(const void *ctx, uint32_t id, const void *key) {
  const struct sample *s = ((const pprof_writer *)ctx)->samples[id];
  const struct sample_key *k = key;
  if (s->npcs != k->npcs || s->nlabels != k->nlabels) return 0;
  if (k->npcs && memcmp(s->pcs, k->pcs, (size_t)k->npcs * sizeof *k->pcs)) return 0;
  for (int i = 0; i < 2 * k->nlabels; i++)
    if (strcmp(s->labels[i], k->labels[i])) return 0;
  return 1;
}

pprof_writer *pprof_writer_new(int64_t period_ns, int64_t time_nanos) {
  if (period_ns <= 0) {
    errno = EINVAL;
    return NULL;
  }
  pprof_writer *w = calloc(1, sizeof *w);
  if (!w) {
    errno = ENOMEM;
    return NULL;
  }
  *w = (struct pprof_writer){.period_ns = period_ns,
                             .time_nanos = time_nanos,
                             .types = {"samples", "cpu"},
                             .units = {"count", "nanoseconds"},
                             .ntypes = 2,
                             .period_type = 1,
                             .cpu = true};
  return w;
}

pprof_writer *pprof_writer_new_count(const char *type, const char *unit, int64_t period,
                                     int64_t time_nanos) {
  if (!type || !unit) {
    errno = EINVAL;
    return NULL;
  }
  pprof_writer *w = pprof_writer_new(period, time_nanos);
  if (w) {
    w->types[0] = type;
    w->units[0] = unit;
    w->ntypes = 1;
    w->period_type = 0;
    w->cpu = false;
  }
  return w;
}

pprof_writer *pprof_writer_new_pair(const char *const types[2], const char *const units[2],
                                    int period_type, int64_t period, int64_t time_nanos) {
  if (!types[0] || !types[1] || !units[0] || !units[1] || period_type < 0 || period_type > 1) {
    errno = EINVAL;
    return NULL;
  }
  pprof_writer *w = pprof_writer_new(period, time_nanos);
  if (w) {
    memcpy(w->types, types, sizeof w->types);
    memcpy(w->units, units, sizeof w->units);
    w->period_type = period_type;
    w->cpu = false;
  }
  return w;
}

/* Copies key into one block (so one free releases it). */
static struct sample *sample_copy(const struct sample_key *k) {
  size_t size = sizeof(struct sample) + (size_t)k->npcs * sizeof(uintptr_t) +
                (size_t)(2 * k->nlabels) * sizeof(char *);
  for (int i = 0; i < 2 * k->nlabels; i++)
    size += strlen(k->labels[i]) + 1;
  struct sample *s = malloc(size);
  if (!s) return NULL;
  /* struct sample holds pointers and int64s, so what follows is aligned */
  uintptr_t *pcs = (uintptr_t *)(s + 1);
  const char **labels = (const char **)(pcs + k->npcs);
  char *str = (char *)(labels + 2 * k->nlabels);
  if (k->npcs) memcpy(pcs, k->pcs, (size_t)k->npcs * sizeof *pcs);
  for (int i = 0; i < 2 * k->nlabels; i++) {
    size_t n = strlen(k->labels[i]) + 1;
    memcpy(str, k->labels[i], n);
    labels[i] = str;
    str += n;
  }
  *s = (struct sample){.pcs = pcs, .labels = labels, .npcs = k->npcs, .nlabels = k->nlabels};
  return s;
}

int pprof_writer_add(pprof_writer *w, const uintptr_t *pcs, int npcs, const char *const *labels,
                     int64_t weight) {
  if (!w || weight < 0) return -EINVAL;
  return pprof_writer_add2(w, pcs, npcs, labels, weight,
                           w->cpu ? (int64_t)((uint64_t)weight * (uint64_t)w->period_ns) : 0);
}

int pprof_writer_add2(pprof_writer *w, const uintptr_t *pcs, int npcs, const char *const *labels,
                      int64_t v0, int64_t v1) {
  uint32_t id;
  return pprof_writer_add_id(w, pcs, npcs, labels, v0, v1, &id);
}

void pprof_writer_bump(pprof_writer *w, uint32_t id, int64_t v0, int64_t v1) {
  if (id >= w->nsamples || v0 < 0 || v1 < 0) return;
  w->samples[id]->count += v0;
  w->samples[id]->cpu += (uint64_t)v1;
}

int pprof_writer_add_id(pprof_writer *w, const uintptr_t *pcs, int npcs, const char *const *labels,
                        int64_t v0, int64_t v1, uint32_t *idp) {
  if (!w || npcs < 0 || (npcs > 0 && !pcs) || v0 < 0 || v1 < 0) return -EINVAL;
  int nstr = 0;
  while (labels && labels[nstr])
    nstr++;
  if (nstr % 2) return -EINVAL; /* a key without its value */
  struct sample_key k = {pcs, labels, npcs, nstr / 2};

  uint64_t h = hash_fnv(HASH_FNV_INIT, &k.npcs, sizeof k.npcs);
  if (npcs) h = hash_fnv(h, pcs, (size_t)npcs * sizeof *pcs);
  for (int i = 0; i < nstr; i++)
    h = hash_fnv(h, labels[i], strlen(labels[i]) + 1); /* the NUL separates strings */
  uint32_t hash = hash_fold(h);

  int64_t id = hash_find(&w->index, hash, sample_eq, w, &k);
  if (id < 0) {
    if (w->nsamples >= UINT32_MAX - 1) return -ENOMEM;
    if (hash_reserve(&w->index) ||
        buf_grow(&w->samples, &w->samples_cap, w->nsamples + 1, sizeof *w->samples))
      return -ENOMEM;
    struct sample *s = sample_copy(&k);
    if (!s) return -ENOMEM;
    id = (int64_t)w->nsamples++;
    w->samples[id] = s;
    hash_put(&w->index, hash, (uint32_t)id);
  }
  struct sample *s = w->samples[id];
  s->count += v0;
  s->cpu += (uint64_t)v1;
  *idp = (uint32_t)id;
  return 0;
}

void pprof_writer_free(pprof_writer *w) {
  if (!w) return;
  for (size_t i = 0; i < w->nsamples; i++)
    free(w->samples[i]);
  free(w->samples);
  free(w->index.slots);
  for (size_t i = 0; i < w->nnamed; i++)
    free(w->named[i]);
  free(w->named);
  hash_free(&w->named_ix);
  for (size_t i = 0; i < w->ncomments; i++)
    free(w->comments[i]);
  free(w->comments);
  free(w);
}

int pprof_writer_comment(pprof_writer *w, const char *text) {
  if (buf_grow(&w->comments, &w->comments_cap, w->ncomments + 1, sizeof *w->comments))
    return -ENOMEM;
  if (!(w->comments[w->ncomments] = strdup(text))) return -ENOMEM;
  w->ncomments++;
  return 0;
}

/* ---- names taken while modules are loaded ---- */

static uint32_t hash_pc(uintptr_t pc) {
  return hash_fold(hash_fnv(HASH_FNV_INIT, &pc, sizeof pc));
}

static int named_eq(const void *ctx, uint32_t id, const void *key) {
  return ((const pprof_writer *)ctx)->named[id]->pc == *(const uintptr_t *)key;
}

static const struct named_pc *named_find(const pprof_writer *w, uintptr_t pc) {
  int64_t id = hash_find(&w->named_ix, hash_pc(pc), named_eq, w, &pc);
  return id >= 0 ? w->named[id] : NULL;
}

/* Copies pc's lines into one block (so one free releases it). */
static struct named_pc *named_copy(uintptr_t pc, const struct symbolize_line *lines, int n) {
  size_t size = sizeof(struct named_pc) + (size_t)n * sizeof *lines;
  for (int i = 0; i < n; i++)
    size += strlen(lines[i].function) + strlen(lines[i].file) + 2;
  struct named_pc *np = malloc(size);
  if (!np) return NULL;
  np->pc = pc;
  np->n = n;
  char *str = (char *)(np->lines + n);
  for (int i = 0; i < n; i++) {
    size_t a = strlen(lines[i].function) + 1, b = strlen(lines[i].file) + 1;
    memcpy(str, lines[i].function, a);
    memcpy(str + a, lines[i].file, b);
    np->lines[i] = (struct symbolize_line){str, str + a, lines[i].line};
    str += a + b;
  }
  return np;
}

int pprof_writer_name_new(pprof_writer *w, symbolizer *s) {
  struct symbolize_line lines[MAX_LINES];
  for (; w->named_upto < w->nsamples; w->named_upto++) {
    const struct sample *smp = w->samples[w->named_upto];
    for (int i = 0; i < smp->npcs; i++) {
      uintptr_t pc = smp->pcs[i];
      if (pc < PROF_PC_PSEUDO_LIMIT || named_find(w, pc)) continue;
      int n = symbolize_pc(s, pc, lines, MAX_LINES);
      if (n <= 0 || (n == 1 && strcmp(lines[0].function, "?") == 0)) continue; /* at write */
      struct named_pc *np = named_copy(pc, lines, n);
      if (!np || hash_reserve(&w->named_ix) ||
          buf_grow(&w->named, &w->named_cap, w->nnamed + 1, sizeof *w->named)) {
        free(np);
        return -ENOMEM;
      }
      w->named[w->nnamed] = np;
      hash_put(&w->named_ix, hash_pc(pc), (uint32_t)w->nnamed++);
    }
  }
  return 0;
}

/* ---- protobuf encoding into a buffer ---- */

struct pbuf {
  uint8_t *data;
  size_t len, cap;
  int err; /* sticky -ENOMEM: callers check once per field */
};

static void pb_bytes(struct pbuf *b, const void *p, size_t n) {
  if (b->err) return;
  if (buf_grow(&b->data, &b->cap, b->len + n, 1)) {
    b->err = -ENOMEM;
    return;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

/* Encodes v as a varint into out (at least 10 bytes); returns its length. */
static size_t varint(uint8_t *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

static void pb_varint(struct pbuf *b, uint64_t v) {
  uint8_t tmp[10];
  pb_bytes(b, tmp, varint(tmp, v));
}

static void pb_tag(struct pbuf *b, int field, int wire) {
  pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* Proto3 omits zero scalars, as Go's encoder does (uint64Opt etc.). */
static void pb_uint64(struct pbuf *b, int field, uint64_t v) {
  if (!v) return;
  pb_tag(b, field, WIRE_VARINT);
  pb_varint(b, v);
}

static void pb_int64(struct pbuf *b, int field, int64_t v) {
  pb_uint64(b, field, (uint64_t)v);
}

static void pb_string(struct pbuf *b, int field, const char *s) {
  size_t n = strlen(s);
  pb_tag(b, field, WIRE_BYTES);
  pb_varint(b, n);
  pb_bytes(b, s, n);
}

/* A length-delimited submessage: the body is written from start on, then
 * pb_end inserts the tag and length in front of it (a varint whose size is
 * only known once the body is done). */
static size_t pb_start(struct pbuf *b) {
  return b->len;
}

static void pb_end(struct pbuf *b, int field, size_t start) {
  if (b->err) return;
  uint8_t hdr[20];
  size_t body = b->len - start;
  size_t n = varint(hdr, (uint64_t)field << 3 | WIRE_BYTES);
  n += varint(hdr + n, body);
  if (buf_grow(&b->data, &b->cap, b->len + n, 1)) {
    b->err = -ENOMEM;
    return;
  }
  memmove(b->data + start + n, b->data + start, body);
  memcpy(b->data + start, hdr, n);
  b->len += n;
}

/* Packed repeated int64/uint64: one length-delimited run of varints. */
static void pb_packed(struct pbuf *b, int field, const uint64_t *v, size_t n) {
  if (!n) return;
  size_t start = pb_start(b);
  for (size_t i = 0; i < n; i++)
    pb_varint(b, v[i]);
  pb_end(b, field, start);
}

/* ---- the write: tables built on the fly, gzip to fd ---- */

struct function {
  uint32_t name, file; /* string table indices */
};

/* What every location in a mapping got from the symbolizer: the mapping's
 * has_* flags claim only what holds for all of them (see write_mappings). */
struct map_flags {
  bool used;                    /* a location lies in the mapping */
  bool functions, files, lines; /* each line of each location has one */
};

struct enc {
  pprof_writer *w;
  symbolizer *s;
  int fd;
  struct pbuf pb;
  z_stream z;
  int z_ready;
  uint8_t *zout;

  const char **strs; /* string table, "" first */
  size_t nstrs, strs_cap;
  struct hash_index str_ix;

  uintptr_t *locs; /* location id - 1 -> address */
  size_t nlocs, locs_cap;
  struct hash_index loc_ix;

  struct function *fns; /* function id - 1 */
  size_t nfns, fns_cap;
  struct hash_index fn_ix;

  const struct symbolize_mapping *maps;
  int nmaps;
  struct map_flags *mflags; /* per mapping, filled by write_locations */
};

#define ZOUT_SIZE (64 * 1024)

static int str_eq(const void *ctx, uint32_t id, const void *key) {
  return strcmp(((const struct enc *)ctx)->strs[id], key) == 0;
}

/* The string table index of str, adding it if new.  Sets e->pb.err on
 * failure (and returns 0, the empty string, to keep encoding harmless). */
static uint32_t intern(struct enc *e, const char *str) {
  if (e->pb.err) return 0;
  uint32_t hash = hash_fold(hash_fnv(HASH_FNV_INIT, str, strlen(str)));
  int64_t id = hash_find(&e->str_ix, hash, str_eq, e, str);
  if (id >= 0) return (uint32_t)id;
  if (hash_reserve(&e->str_ix) || buf_grow(&e->strs, &e->strs_cap, e->nstrs + 1, sizeof *e->strs)) {
    e->pb.err = -ENOMEM;
    return 0;
  }
  e->strs[e->nstrs] = str;
  hash_put(&e->str_ix, hash, (uint32_t)e->nstrs);
  return (uint32_t)e->nstrs++;
}

static int loc_eq(const void *ctx, uint32_t id, const void *key) {
  return ((const struct enc *)ctx)->locs[id] == *(const uintptr_t *)key;
}

/* The location id (from 1) of address pc, adding it if new. */
static uint64_t location_id(struct enc *e, uintptr_t pc) {
  if (e->pb.err) return 0;
  uint32_t hash = hash_fold(hash_fnv(HASH_FNV_INIT, &pc, sizeof pc));
  int64_t id = hash_find(&e->loc_ix, hash, loc_eq, e, &pc);
  if (id >= 0) return (uint64_t)id + 1;
  if (hash_reserve(&e->loc_ix) || buf_grow(&e->locs, &e->locs_cap, e->nlocs + 1, sizeof *e->locs)) {
    e->pb.err = -ENOMEM;
    return 0;
  }
  e->locs[e->nlocs] = pc;
  hash_put(&e->loc_ix, hash, (uint32_t)e->nlocs);
  return ++e->nlocs;
}

static int fn_eq(const void *ctx, uint32_t id, const void *key) {
  const struct function *a = &((const struct enc *)ctx)->fns[id], *b = key;
  return a->name == b->name && a->file == b->file;
}

/* The function id (from 1) of (name, file), adding it if new. */
static uint64_t function_id(struct enc *e, const char *name, const char *file) {
  struct function f = {intern(e, name), intern(e, file)};
  if (e->pb.err) return 0;
  uint32_t hash = hash_fold(hash_fnv(HASH_FNV_INIT, &f, sizeof f));
  int64_t id = hash_find(&e->fn_ix, hash, fn_eq, e, &f);
  if (id >= 0) return (uint64_t)id + 1;
  if (hash_reserve(&e->fn_ix) || buf_grow(&e->fns, &e->fns_cap, e->nfns + 1, sizeof *e->fns)) {
    e->pb.err = -ENOMEM;
    return 0;
  }
  e->fns[e->nfns] = f;
  hash_put(&e->fn_ix, hash, (uint32_t)e->nfns);
  return ++e->nfns;
}

/* Writes all of buf to fd, through partial writes and signals. */

/* Compresses the buffered bytes to fd (all of zlib's output with finish). */
static int flush(struct enc *e, int finish) {
  if (e->pb.err) return e->pb.err;
  e->z.next_in = e->pb.data;
  e->z.avail_in = (uInt)e->pb.len; /* pb.len stays far below 4 GiB */
  for (;;) {
    e->z.next_out = e->zout;
    e->z.avail_out = ZOUT_SIZE;
    int rc = deflate(&e->z, finish ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) return -EIO;
    int err = buf_write_all(e->fd, e->zout, ZOUT_SIZE - e->z.avail_out);
    if (err) return err;
    if (finish ? rc == Z_STREAM_END : e->z.avail_in == 0 && e->z.avail_out != 0) break;
  }
  e->pb.len = 0;
  return 0;
}

static int maybe_flush(struct enc *e) {
  if (e->pb.err) return e->pb.err;
  return e->pb.len >= FLUSH_AT ? flush(e, 0) : 0;
}

static void value_type(struct enc *e, int field, const char *type, const char *unit) {
  size_t start = pb_start(&e->pb);
  pb_uint64(&e->pb, VALUETYPE_TYPE, intern(e, type));
  pb_uint64(&e->pb, VALUETYPE_UNIT, intern(e, unit));
  pb_end(&e->pb, field, start);
}

static int write_samples(struct enc *e) {
  pprof_writer *w = e->w;
  uint64_t *ids = NULL;
  size_t ids_cap = 0;
  int err = 0;
  for (size_t i = 0; i < w->nsamples && !err; i++) {
    const struct sample *s = w->samples[i];
    if (buf_grow(&ids, &ids_cap, (size_t)s->npcs, sizeof *ids)) {
      err = -ENOMEM;
      break;
    }
    for (int j = 0; j < s->npcs; j++)
      ids[j] = location_id(e, s->pcs[j]);
    uint64_t values[2] = {(uint64_t)s->count, s->cpu};
    size_t start = pb_start(&e->pb);
    pb_packed(&e->pb, SAMPLE_LOCATION_ID, ids, (size_t)s->npcs);
    pb_packed(&e->pb, SAMPLE_VALUE, values, (size_t)w->ntypes);
    for (int j = 0; j < s->nlabels; j++) {
      size_t lstart = pb_start(&e->pb);
      pb_uint64(&e->pb, LABEL_KEY, intern(e, s->labels[2 * j]));
      pb_uint64(&e->pb, LABEL_STR, intern(e, s->labels[2 * j + 1]));
      pb_end(&e->pb, SAMPLE_LABEL, lstart);
    }
    pb_end(&e->pb, PROFILE_SAMPLE, start);
    err = maybe_flush(e);
  }
  free(ids);
  return err;
}

/*
 * A mapping's has_* flags tell readers that its locations are symbolized
 * already: pprof (symbolizer.go) then never looks for the binary or its
 * debug file (PPROF_BINARY_PATH), and Parca and Pyroscope do likewise.  So
 * a flag is set only when it holds for every location in the mapping, and
 * none for a mapping no location is in.  A mapping with a pc we could not
 * name (a stripped library's static function) gets no has_functions, and
 * keeps its file name and build ID, so that a reader with the debug file
 * can name it later.  has_inline_frames goes with has_filenames: a file
 * name comes only from DWARF, and with DWARF libdw gives the whole inline
 * chain.
 */
static int write_mappings(struct enc *e) {
  for (int i = 0; i < e->nmaps; i++) {
    const struct symbolize_mapping *m = &e->maps[i];
    const struct map_flags *f = &e->mflags[i];
    size_t start = pb_start(&e->pb);
    pb_uint64(&e->pb, MAPPING_ID, (uint64_t)i + 1);
    pb_uint64(&e->pb, MAPPING_MEMORY_START, m->start);
    pb_uint64(&e->pb, MAPPING_MEMORY_LIMIT, m->limit);
    pb_uint64(&e->pb, MAPPING_FILE_OFFSET, m->offset);
    pb_uint64(&e->pb, MAPPING_FILENAME, intern(e, m->file));
    pb_uint64(&e->pb, MAPPING_BUILD_ID, intern(e, m->build_id));
    pb_uint64(&e->pb, MAPPING_HAS_FUNCTIONS, f->used && f->functions);
    pb_uint64(&e->pb, MAPPING_HAS_FILENAMES, f->used && f->files);
    pb_uint64(&e->pb, MAPPING_HAS_LINE_NUMBERS, f->used && f->lines);
    pb_uint64(&e->pb, MAPPING_HAS_INLINE_FRAMES, f->used && f->files);
    pb_end(&e->pb, PROFILE_MAPPING, start);
    int err = maybe_flush(e);
    if (err) return err;
  }
  return 0;
}

/* The mapping id (from 1) containing pc, or 0 (binary search: the
 * symbolizer lists its mappings in address order). */
static uint64_t mapping_of(const struct enc *e, uintptr_t pc) {
  int lo = 0, hi = e->nmaps;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (pc < e->maps[mid].start)
      hi = mid;
    else if (pc >= e->maps[mid].limit)
      lo = mid + 1;
    else
      return (uint64_t)mid + 1;
  }
  return 0;
}

static const char *pseudo_name(uintptr_t pc) {
  switch (pc) {
  case PROF_PC_SYSTEM:
    return "grt._System";
  case PROF_PC_EXTERNAL:
    return "grt._ExternalCode";
  case PROF_PC_LOST:
    return "grt._LostSamples";
  case PROF_PC_TRUNCATED:
    return "grt._Truncated";
  default:
    return "grt._Unknown";
  }
}

static void line(struct enc *e, uint64_t fn, int lineno) {
  size_t start = pb_start(&e->pb);
  pb_uint64(&e->pb, LINE_FUNCTION_ID, fn);
  pb_int64(&e->pb, LINE_LINE, lineno);
  pb_end(&e->pb, LOCATION_LINE, start);
}

/* Locations grow no more here: every sample has been written. */
static int write_locations(struct enc *e) {
  struct symbolize_line lines[MAX_LINES];
  for (size_t i = 0; i < e->nlocs; i++) {
    uintptr_t pc = e->locs[i];
    size_t start = pb_start(&e->pb);
    pb_uint64(&e->pb, LOCATION_ID, i + 1);
    if (pc < PROF_PC_PSEUDO_LIMIT) {
      /* Not code: no mapping, no address, one made-up function. */
      line(e, function_id(e, pseudo_name(pc), ""), 0);
    } else {
      uint64_t map = mapping_of(e, pc);
      pb_uint64(&e->pb, LOCATION_MAPPING_ID, map);
      pb_uint64(&e->pb, LOCATION_ADDRESS, pc);
      /* Named while its module was loaded, or now. */
      const struct named_pc *np = named_find(e->w, pc);
      int n = np ? np->n : e->s ? symbolize_pc(e->s, pc, lines, MAX_LINES) : 0;
      if (np) memcpy(lines, np->lines, (size_t)n * sizeof *lines);
      /* An unknown address gets no Line at all, only its address and
       * mapping: pprof then shows the address (or "[libfoo.so]") instead of
       * lumping every unknown pc into one "?", and can still symbolize it
       * from the mapping's file or debug file. */
      if (n == 1 && strcmp(lines[0].function, "?") == 0) n = 0;
      for (int j = 0; j < n; j++)
        line(e, function_id(e, lines[j].function, lines[j].file), lines[j].line);
      if (map) {
        struct map_flags *f = &e->mflags[map - 1];
        f->used = true;
        if (n == 0) f->functions = f->files = f->lines = false;
        for (int j = 0; j < n; j++) {
          if (strcmp(lines[j].function, "?") == 0) f->functions = false;
          if (!lines[j].file[0]) f->files = false;
          if (lines[j].line == 0) f->lines = false;
        }
      }
    }
    pb_end(&e->pb, PROFILE_LOCATION, start);
    int err = maybe_flush(e);
    if (err) return err;
  }
  return 0;
}

static int write_functions(struct enc *e) {
  for (size_t i = 0; i < e->nfns; i++) {
    size_t start = pb_start(&e->pb);
    pb_uint64(&e->pb, FUNCTION_ID, i + 1);
    pb_uint64(&e->pb, FUNCTION_NAME, e->fns[i].name);
    /* C names are not mangled: the system name is the name. */
    pb_uint64(&e->pb, FUNCTION_SYSTEM_NAME, e->fns[i].name);
    pb_uint64(&e->pb, FUNCTION_FILENAME, e->fns[i].file);
    pb_end(&e->pb, PROFILE_FUNCTION, start);
    int err = maybe_flush(e);
    if (err) return err;
  }
  return 0;
}

static int encode(struct enc *e, int64_t duration_nanos) {
  pprof_writer *w = e->w;
  intern(e, ""); /* index 0, as profile.proto requires */
  for (int i = 0; i < w->ntypes; i++)
    value_type(e, PROFILE_SAMPLE_TYPE, w->types[i], w->units[i]);
  int err;
  /* Locations before mappings: a mapping's flags depend on what its
   * locations got (field order is free in protobuf). */
  if ((err = write_samples(e)) || (err = write_locations(e)) || (err = write_mappings(e)) ||
      (err = write_functions(e)))
    return err;
  for (size_t i = 0; i < w->ncomments; i++)
    pb_int64(&e->pb, PROFILE_COMMENT, intern(e, w->comments[i]));
  /* Strings last: only now is the table complete. */
  for (size_t i = 0; i < e->nstrs; i++) {
    pb_string(&e->pb, PROFILE_STRING_TABLE, e->strs[i]);
    if ((err = maybe_flush(e))) return err;
  }
  pb_int64(&e->pb, PROFILE_TIME_NANOS, w->time_nanos);
  pb_int64(&e->pb, PROFILE_DURATION_NANOS, duration_nanos);
  /* The period type's strings were interned with the sample types above,
   * so the table written already holds them. */
  value_type(e, PROFILE_PERIOD_TYPE, w->types[w->period_type], w->units[w->period_type]);
  pb_int64(&e->pb, PROFILE_PERIOD, w->period_ns);
  return flush(e, 1);
}

int pprof_writer_write(pprof_writer *w, symbolizer *s, int64_t duration_nanos, int fd) {
  if (!w || fd < 0) return -EINVAL;
  struct enc e = {.w = w, .s = s, .fd = fd};
  if (s) e.nmaps = symbolize_mappings(s, &e.maps);
  int err = -ENOMEM;
  e.zout = malloc(ZOUT_SIZE);
  e.mflags = calloc((size_t)e.nmaps + 1, sizeof *e.mflags);
  if (!e.zout || !e.mflags) goto out;
  for (int i = 0; i < e.nmaps; i++)
    e.mflags[i] = (struct map_flags){.functions = true, .files = true, .lines = true};
  /* 16 + MAX_WBITS: a gzip header and trailer instead of zlib's. */
  int rc =
      deflateInit2(&e.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) {
    err = rc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
    goto out;
  }
  e.z_ready = 1;
  err = encode(&e, duration_nanos);
out:
  if (e.z_ready) deflateEnd(&e.z);
  free(e.zout);
  free(e.mflags);
  free(e.pb.data);
  free(e.strs);
  hash_free(&e.str_ix);
  free(e.locs);
  hash_free(&e.loc_ix);
  free(e.fns);
  hash_free(&e.fn_ix);
  return err;
}
