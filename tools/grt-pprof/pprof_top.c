/*
 * pprof_top.c - the reader behind `grt-pprof top` (pprof_top.h): reads a
 * pprof profile (gzipped or plain profile.proto) and prints its functions
 * with the most CPU, as `go tool pprof -top` does: flat (CPU in the
 * function itself), cum (CPU in the function and what it called) and their
 * percentages of the total.  It needs libc and zlib only, not libgrt.
 *
 * The file is untrusted input, decoded by hand.  Invariants:
 *  - Every byte is read through struct rd, which never reads past its end;
 *    a length, a varint or a wire type that does not fit makes the file
 *    "not a profile" (-EINVAL), never a crash.
 *  - Every reference (string index, function id, location id) is resolved
 *    through a checked lookup; a dangling one makes the file -EINVAL.
 *  - The decompressed profile and each table are capped (MAX_DATA,
 *    MAX_ENTRIES, MAX_LINES), so hostile input cannot make us allocate
 *    without bound: beyond the caps the answer is -EFBIG.
 *  - Tables are sized by a counting pass before they are filled, so they
 *    never grow while something points into them.
 *
 * Attribution follows pprof's "functions" granularity: a node is a function
 * name (equal names merge).  A location without lines (code no symbol
 * covers, as in a stripped library) is a node per function all the same:
 * the function that contains it is found in its mapping's file, in the
 * FDE table of .eh_frame_hdr (elf_fns.c), and named by the file's basename
 * and the function's start as a virtual address of the file, as nm,
 * objdump and `addr2line -e FILE` number it: "libz.so.1.2.13+0x5c10".
 * Where that fails (the file is gone, is another build than the profile's
 * build ID says, or has no FDE there), it is a node per binary,
 * "[libz.so.1]", as pprof shows it, or its own address "0x..." when it is
 * in no named mapping.  The mapping's file is untrusted input too
 * (elf_fns.c reads it with every read bounds-checked).
 * A sample's flat goes to the innermost line of its leaf location; its cum
 * goes once to every node anywhere in its stack (a recursive function, or
 * one inlined twice, is counted once per sample).
 */
#define _GNU_SOURCE
#include "pprof_top.h"

#include "elf_fns.h"

#include "base/buf.h"      /* buf_write_all, shared with libgrt (compiled in) */
#include "profile_proto.h" /* shared with libgrt's writer */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Far above any real profile (a long run of a big program is a few MB);
 * low enough that a hostile file costs at most a few hundred MB. */
#define MAX_DATA ((size_t)64 << 20) /* decompressed bytes */
#define MAX_ENTRIES (1u << 21)      /* strings, functions, locations each */
#define MAX_LINES (1u << 23)        /* lines of all locations together */
#define NAME_PRINT_MAX 1024         /* longer names are cut on output */
#define MAX_FILES 128               /* mapping files read for function starts */

/* ---- protobuf reading, bounds-checked ---- */

struct rd {
  const uint8_t *p, *end;
};

struct field {
  uint64_t num;
  int wire;
  uint64_t v;     /* WIRE_VARINT */
  struct rd body; /* WIRE_BYTES */
};

/* 0, or -1 if the varint is cut off or longer than 10 bytes. */
static int rd_varint(struct rd *r, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p == r->end) return -1;
    uint8_t b = *r->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* Reads the next field: 1, 0 at the end of r, -1 if malformed.  Groups
 * (wire types 3 and 4) are malformed: profile.proto has none. */
static int rd_field(struct rd *r, struct field *f) {
  if (r->p == r->end) return 0;
  uint64_t tag, len;
  if (rd_varint(r, &tag) || tag >> 3 == 0) return -1;
  *f = (struct field){.num = tag >> 3, .wire = (int)(tag & 7)};
  size_t left = (size_t)(r->end - r->p);
  switch (f->wire) {
  case WIRE_VARINT:
    return rd_varint(r, &f->v) ? -1 : 1;
  case WIRE_FIXED64:
  case WIRE_FIXED32:
    len = f->wire == WIRE_FIXED64 ? 8 : 4;
    break;
  case WIRE_BYTES:
    if (rd_varint(r, &len)) return -1;
    left = (size_t)(r->end - r->p);
    break;
  default:
    return -1;
  }
  if (len > left) return -1;
  f->body = (struct rd){r->p, r->p + len};
  r->p += len;
  return 1;
}

/* Iterates a repeated integer field of one message, packed or not (or
 * both, which protobuf allows: the elements concatenate in order). */
struct rep {
  struct rd msg, packed;
  uint64_t num;
};

/* 1 with *v, 0 at the end, -1 if malformed. */
static int rep_next(struct rep *it, uint64_t *v) {
  for (;;) {
    if (it->packed.p != it->packed.end) return rd_varint(&it->packed, v) ? -1 : 1;
    struct field f;
    int r = rd_field(&it->msg, &f);
    if (r <= 0) return r;
    if (f.num != it->num) continue;
    if (f.wire == WIRE_VARINT) {
      *v = f.v;
      return 1;
    }
    if (f.wire != WIRE_BYTES) return -1;
    it->packed = f.body;
  }
}

/* ---- the decoded profile ---- */

struct str {
  uint32_t off, len; /* within the data (at most MAX_DATA bytes) */
};

/* An id and the index of its entry, sorted by id for lookups. */
struct idmap {
  uint64_t id;
  uint32_t i;
};

struct loc {
  struct rd msg;
  uint64_t addr;
  uint32_t first, n; /* its nodes: loc_nodes[first, first + n), innermost first */
  /* Where code without a function goes (no lines, or a line without one):
   * the node of the function containing it in its mapping's file, else the
   * mapping's node, else the address's. */
  int needs_code_node;
  enum { BY_ADDRESS, BY_MAPPING, BY_FUNCTION } kind;
  uint64_t key;     /* address, mapping index, or string index of the file name */
  uint64_t key2;    /* BY_FUNCTION: the function's start in the file */
  uint32_t mapping; /* BY_MAPPING, BY_FUNCTION: the mapping index */
  uint32_t code_node;
};

/* A row of the table: a function, a binary, or an address. */
struct node {
  int64_t flat, cum;
  uint32_t stamp; /* the last sample that added to cum (1-based) */
  uint32_t name_len;
  const uint8_t *name; /* into the data, or into names for binaries and addresses */
};

struct top {
  const char *path;
  const uint8_t *data; /* the decompressed profile.proto */
  size_t len;
  const char *why;   /* what made the file not a profile */
  char why_buf[128]; /* zlib's words for it, copied: they die with the gzFile */
  int64_t duration;

  struct str *strs; /* the string table */
  uint32_t nstrs;

  struct rd *types; /* sample types */
  uint32_t ntypes;
  uint32_t vi;           /* the value shown: cpu/nanoseconds, else the last */
  uint32_t vtype, vunit; /* string indices of its type and unit */
  int64_t count_i;       /* the samples/count value, or -1 */

  struct rd *map_msgs; /* mappings */
  uint32_t nmaps;
  struct idmap *map_ids;
  uint32_t *map_file; /* mapping index -> string index of its file name */
  uint32_t *map_bid;  /* mapping index -> string index of its build ID */
  uint64_t *map_start, *map_limit, *map_off;
  int32_t *map_elf; /* mapping index -> index in files, -1 (none), -2 (not looked up) */

  struct file {
    uint32_t name;      /* string index */
    struct elf_fns *fn; /* NULL: cannot be used */
  } files[MAX_FILES];
  uint32_t nfiles;

  struct rd *fn_msgs; /* functions */
  uint32_t nfns;
  struct idmap *fn_ids;
  uint32_t *fn_name; /* function index -> string index of its name */
  uint32_t *fn_node; /* function index -> node */

  struct loc *locs; /* locations */
  uint32_t nlocs;
  struct idmap *loc_ids;
  uint32_t *loc_nodes; /* see struct loc */

  struct node *nodes; /* the rows */
  uint32_t nnodes;
  char *names; /* names of binary and address nodes */

  int64_t total, nsamples; /* of the value shown, and of samples/count */
};

static int bad(struct top *t, const char *why) {
  t->why = why;
  return -EINVAL;
}

static int str_is(const struct top *t, uint32_t i, const char *s) {
  size_t n = strlen(s);
  return t->strs[i].len == n && memcmp(t->data + t->strs[i].off, s, n) == 0;
}

/* Orders strings by content, as pprof orders names. */
static int str_cmp(const struct top *t, uint32_t a, uint32_t b) {
  const struct str *x = &t->strs[a], *y = &t->strs[b];
  int c = memcmp(t->data + x->off, t->data + y->off, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int idmap_cmp(const void *a, const void *b) {
  const struct idmap *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

/* Sorts ids; 0 if they are all distinct and nonzero. */
static int idmap_sort(struct top *t, struct idmap *m, uint32_t n) {
  qsort(m, n, sizeof *m, idmap_cmp);
  for (uint32_t i = 0; i < n; i++)
    if (m[i].id == 0 || (i > 0 && m[i].id == m[i - 1].id))
      return bad(t, "a zero or duplicate id of a function, location or mapping");
  return 0;
}

/* The index of id's entry, or -1. */
static int64_t idmap_find(const struct idmap *m, uint32_t n, uint64_t id) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (m[mid].id < id)
      lo = mid + 1;
    else if (m[mid].id > id)
      hi = mid;
    else
      return m[mid].i;
  }
  return -1;
}

/* ---- reading the file ---- */

/* Reads all of path, gunzipping it if it is gzipped, into *data. */
static int read_file(struct top *t, uint8_t **data) {
  int fd = open(t->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return -EISDIR;
  }
  gzFile gz = gzdopen(fd, "rb"); /* reads plain files as they are */
  if (!gz) {
    close(fd);
    return -ENOMEM;
  }
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  int err = 0;
  for (;;) {
    if (n == cap) {
      /* One byte more than allowed tells a file of exactly MAX_DATA
       * bytes from a larger one. */
      if (cap == MAX_DATA + 1) {
        err = -EFBIG;
        t->why = "larger than the 64 MiB that grt-pprof reads";
        break;
      }
      size_t ncap = cap ? 2 * cap : 64 * 1024;
      if (ncap > MAX_DATA + 1) ncap = MAX_DATA + 1;
      uint8_t *nbuf = realloc(buf, ncap);
      if (!nbuf) {
        err = -ENOMEM;
        break;
      }
      buf = nbuf;
      cap = ncap;
    }
    size_t want = cap - n > INT_MAX ? INT_MAX : cap - n;
    int got = gzread(gz, buf + n, (unsigned)want);
    int saved_errno = errno;
    int zerr = Z_OK;
    const char *msg = got <= 0 ? gzerror(gz, &zerr) : NULL;
    if (got > 0) {
      n += (size_t)got;
      continue;
    }
    if (zerr == Z_ERRNO) {
      err = saved_errno ? -saved_errno : -EIO;
    } else if (zerr != Z_OK) {
      err = -EINVAL; /* bad or truncated gzip data */
      /* zlib names the file "<fd:N>": the caller knows it by its path. */
      if (msg && strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ": ")) msg = strstr(msg, ": ") + 2;
      snprintf(t->why_buf, sizeof t->why_buf, "gzip: %s", msg && *msg ? msg : "bad data");
      t->why = t->why_buf;
    }
    break;
  }
  gzclose_r(gz); /* closes fd */
  if (err) {
    free(buf);
    return err;
  }
  *data = buf;
  t->len = n;
  return 0;
}

/* ---- decoding ---- */

/* The first pass over the top level: counts each table and checks that
 * every field is well-formed, so the second pass cannot fail. */
static int count_fields(struct top *t) {
  struct rd r = {t->data, t->data + t->len};
  struct field f;
  int rc;
  uint64_t nstrs = 0, ntypes = 0, nfns = 0, nlocs = 0, nmaps = 0;
  while ((rc = rd_field(&r, &f)) == 1) {
    uint64_t *count = NULL;
    switch (f.num) {
    case PROFILE_SAMPLE_TYPE:
      count = &ntypes;
      break;
    case PROFILE_SAMPLE:
      break;
    case PROFILE_MAPPING:
      count = &nmaps;
      break;
    case PROFILE_LOCATION:
      count = &nlocs;
      break;
    case PROFILE_FUNCTION:
      count = &nfns;
      break;
    case PROFILE_STRING_TABLE:
      count = &nstrs;
      break;
    case PROFILE_DURATION_NANOS:
      if (f.wire != WIRE_VARINT) return bad(t, "duration_nanos is not a varint");
      t->duration = (int64_t)f.v;
      continue;
    default:
      continue; /* mappings, period, comments, ...: not needed here */
    }
    if (f.wire != WIRE_BYTES) return bad(t, "a message field is not length-delimited");
    if (count && ++*count > MAX_ENTRIES) {
      t->why = "more entries than grt-pprof handles";
      return -EFBIG;
    }
  }
  if (rc < 0) return bad(t, "malformed or truncated protobuf");
  t->nstrs = (uint32_t)nstrs;
  t->ntypes = (uint32_t)ntypes;
  t->nfns = (uint32_t)nfns;
  t->nlocs = (uint32_t)nlocs;
  t->nmaps = (uint32_t)nmaps;
  return 0;
}

static int alloc_tables(struct top *t) {
  /* + 1: calloc(0) may return NULL */
  t->strs = calloc(t->nstrs + 1, sizeof *t->strs);
  t->types = calloc(t->ntypes + 1, sizeof *t->types);
  t->fn_msgs = calloc(t->nfns + 1, sizeof *t->fn_msgs);
  t->fn_ids = calloc(t->nfns + 1, sizeof *t->fn_ids);
  t->fn_name = calloc(t->nfns + 1, sizeof *t->fn_name);
  t->fn_node = calloc(t->nfns + 1, sizeof *t->fn_node);
  t->locs = calloc(t->nlocs + 1, sizeof *t->locs);
  t->loc_ids = calloc(t->nlocs + 1, sizeof *t->loc_ids);
  t->map_msgs = calloc(t->nmaps + 1, sizeof *t->map_msgs);
  t->map_ids = calloc(t->nmaps + 1, sizeof *t->map_ids);
  t->map_file = calloc(t->nmaps + 1, sizeof *t->map_file);
  t->map_bid = calloc(t->nmaps + 1, sizeof *t->map_bid);
  t->map_start = calloc(t->nmaps + 1, sizeof *t->map_start);
  t->map_limit = calloc(t->nmaps + 1, sizeof *t->map_limit);
  t->map_off = calloc(t->nmaps + 1, sizeof *t->map_off);
  t->map_elf = calloc(t->nmaps + 1, sizeof *t->map_elf);
  /* Nodes: at most one per function and one per location. */
  t->nodes = calloc((size_t)t->nfns + t->nlocs + 1, sizeof *t->nodes);
  if (!t->strs || !t->types || !t->fn_msgs || !t->fn_ids || !t->fn_name || !t->fn_node ||
      !t->locs || !t->loc_ids || !t->map_msgs || !t->map_ids || !t->map_file || !t->map_bid ||
      !t->map_start || !t->map_limit || !t->map_off || !t->map_elf || !t->nodes)
    return -ENOMEM;
  return 0;
}

/* The second pass: where each string, sample type, function and location
 * is.  Fields were checked by count_fields. */
static void collect(struct top *t) {
  struct rd r = {t->data, t->data + t->len};
  struct field f;
  uint32_t ns = 0, nt = 0, nf = 0, nl = 0, nm = 0;
  while (rd_field(&r, &f) == 1) {
    switch (f.num) {
    case PROFILE_SAMPLE_TYPE:
      t->types[nt++] = f.body;
      break;
    case PROFILE_MAPPING:
      t->map_msgs[nm++] = f.body;
      break;
    case PROFILE_LOCATION:
      t->locs[nl++].msg = f.body;
      break;
    case PROFILE_FUNCTION:
      t->fn_msgs[nf++] = f.body;
      break;
    case PROFILE_STRING_TABLE:
      t->strs[ns++] =
          (struct str){(uint32_t)(f.body.p - t->data), (uint32_t)(f.body.end - f.body.p)};
      break;
    }
  }
}

/* A varint field of a message: 0, or -EINVAL for another wire type. */
static int varint_of(struct top *t, const struct field *f, uint64_t *v) {
  if (f->wire != WIRE_VARINT) return bad(t, "an integer field is not a varint");
  *v = f->v;
  return 0;
}

/* A string index, checked. */
static int str_index(struct top *t, uint64_t v, uint32_t *out) {
  if (v >= t->nstrs) return bad(t, "a string index is out of range");
  *out = (uint32_t)v;
  return 0;
}

static int decode_types(struct top *t) {
  if (t->nstrs == 0 || t->strs[0].len != 0) return bad(t, "string_table[0] is not \"\"");
  if (t->ntypes == 0) return bad(t, "no sample types");
  int64_t cpu = -1;
  t->count_i = -1;
  for (uint32_t i = 0; i < t->ntypes; i++) {
    struct rd r = t->types[i];
    struct field f;
    int rc;
    uint32_t type = 0, unit = 0;
    while ((rc = rd_field(&r, &f)) == 1) {
      uint64_t v;
      if (f.num != VALUETYPE_TYPE && f.num != VALUETYPE_UNIT) continue;
      int err = varint_of(t, &f, &v);
      if (!err) err = str_index(t, v, f.num == VALUETYPE_TYPE ? &type : &unit);
      if (err) return err;
    }
    if (rc < 0) return bad(t, "malformed sample type");
    if (str_is(t, type, "samples") && str_is(t, unit, "count")) t->count_i = i;
    /* The first cpu type wins; without one, the last type (pprof's
     * default). */
    if (cpu < 0) {
      if (str_is(t, type, "cpu") && str_is(t, unit, "nanoseconds")) cpu = i;
      t->vi = i;
      t->vtype = type;
      t->vunit = unit;
    }
  }
  return 0;
}

static int fn_name_cmp(const void *a, const void *b, void *ctx) {
  const struct top *t = ctx;
  return str_cmp(t, t->fn_name[*(const uint32_t *)a], t->fn_name[*(const uint32_t *)b]);
}

/* Functions: ids checked and sorted; one node per distinct name. */
static int decode_functions(struct top *t) {
  for (uint32_t i = 0; i < t->nfns; i++) {
    struct rd r = t->fn_msgs[i];
    struct field f;
    int rc;
    uint64_t id = 0, name = 0;
    while ((rc = rd_field(&r, &f)) == 1) {
      int err = 0;
      if (f.num == FUNCTION_ID) err = varint_of(t, &f, &id);
      if (f.num == FUNCTION_NAME) err = varint_of(t, &f, &name);
      if (err) return err;
    }
    if (rc < 0) return bad(t, "malformed function");
    int err = str_index(t, name, &t->fn_name[i]);
    if (err) return err;
    t->fn_ids[i] = (struct idmap){id, i};
  }
  int err = idmap_sort(t, t->fn_ids, t->nfns);
  if (err) return err;

  uint32_t *order = malloc(((size_t)t->nfns + 1) * sizeof *order);
  if (!order) return -ENOMEM;
  for (uint32_t i = 0; i < t->nfns; i++)
    order[i] = i;
  qsort_r(order, t->nfns, sizeof *order, fn_name_cmp, t);
  for (uint32_t k = 0; k < t->nfns; k++) {
    uint32_t i = order[k];
    if (k == 0 || str_cmp(t, t->fn_name[order[k - 1]], t->fn_name[i]) != 0) {
      const struct str *s = &t->strs[t->fn_name[i]];
      t->nodes[t->nnodes++] = (struct node){.name = t->data + s->off, .name_len = s->len};
    }
    t->fn_node[i] = t->nnodes - 1;
  }
  free(order);
  return 0;
}

/* Mappings: ids checked and sorted, their file names, build IDs and
 * where they were. */
static int decode_mappings(struct top *t) {
  for (uint32_t i = 0; i < t->nmaps; i++) {
    struct rd r = t->map_msgs[i];
    struct field f;
    int rc;
    uint64_t id = 0, file = 0, bid = 0;
    while ((rc = rd_field(&r, &f)) == 1) {
      int err = 0;
      if (f.num == MAPPING_ID) err = varint_of(t, &f, &id);
      if (f.num == MAPPING_FILENAME) err = varint_of(t, &f, &file);
      if (f.num == MAPPING_BUILD_ID) err = varint_of(t, &f, &bid);
      if (f.num == MAPPING_MEMORY_START) err = varint_of(t, &f, &t->map_start[i]);
      if (f.num == MAPPING_MEMORY_LIMIT) err = varint_of(t, &f, &t->map_limit[i]);
      if (f.num == MAPPING_FILE_OFFSET) err = varint_of(t, &f, &t->map_off[i]);
      if (err) return err;
    }
    if (rc < 0) return bad(t, "malformed mapping");
    int err = str_index(t, file, &t->map_file[i]);
    if (!err) err = str_index(t, bid, &t->map_bid[i]);
    if (err) return err;
    t->map_elf[i] = -2;
    t->map_ids[i] = (struct idmap){id, i};
  }
  return idmap_sort(t, t->map_ids, t->nmaps);
}

/* The function index of a line's function id (0: no function), or -1. */
static int line_function(struct top *t, struct rd line, int64_t *fn) {
  struct field f;
  int rc;
  uint64_t id = 0;
  while ((rc = rd_field(&line, &f)) == 1)
    if (f.num == LINE_FUNCTION_ID && varint_of(t, &f, &id)) return -EINVAL;
  if (rc < 0) return bad(t, "malformed line");
  *fn = id ? idmap_find(t->fn_ids, t->nfns, id) : -1;
  if (id && *fn < 0) return bad(t, "a line refers to a function that is not there");
  return 0;
}

/* Orders the locations that need a code node by (kind, key, key2). */
static int loc_key_cmp(const void *a, const void *b, void *ctx) {
  const struct top *t = ctx;
  const struct loc *x = &t->locs[*(const uint32_t *)a], *y = &t->locs[*(const uint32_t *)b];
  if (x->kind != y->kind) return (int)x->kind - (int)y->kind;
  if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
  return (x->key2 > y->key2) - (x->key2 < y->key2);
}

/* ---- functions of code without names, from the mapping's file ---- */

/* Whether the build ID string s (hex, as pprof writes it) names the
 * len bytes id; an empty s names any (the profile does not say). */
static int build_id_matches(const struct top *t, uint32_t s, const uint8_t *id, size_t len) {
  const struct str *b = &t->strs[s];
  if (b->len == 0) return 1;
  if (b->len != 2 * len) return 0;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < 2 * len; i++) {
    int c = t->data[b->off + i];
    if (c >= 'A' && c <= 'F') c += 'a' - 'A';
    if (c != hex[i % 2 ? id[i / 2] & 15 : id[i / 2] >> 4]) return 0;
  }
  return 1;
}

/* The file of mapping mi, read for its functions' starts (once per file
 * name); NULL if it cannot be, or is not the build the profile saw. */
static struct elf_fns *mapping_fns(struct top *t, uint32_t mi) {
  if (t->map_elf[mi] == -2) {
    uint32_t name = t->map_file[mi];
    uint32_t f;
    for (f = 0; f < t->nfiles && str_cmp(t, t->files[f].name, name) != 0; f++)
      ;
    if (f == t->nfiles && t->nfiles < MAX_FILES) {
      const struct str *s = &t->strs[name];
      char path[PATH_MAX];
      struct elf_fns *fn = NULL;
      /* A name with a NUL in it is not the file it would open. */
      if (s->len < sizeof path && !memchr(t->data + s->off, 0, s->len)) {
        memcpy(path, t->data + s->off, s->len);
        path[s->len] = 0;
        fn = elf_fns_open(path);
      }
      t->files[t->nfiles++] = (struct file){name, fn};
    }
    t->map_elf[mi] = -1;
    if (f < t->nfiles && t->files[f].fn) {
      size_t len;
      const uint8_t *id = elf_fns_build_id(t->files[f].fn, &len);
      if (build_id_matches(t, t->map_bid[mi], id, len)) t->map_elf[mi] = (int32_t)f;
    }
  }
  return t->map_elf[mi] >= 0 ? t->files[t->map_elf[mi]].fn : NULL;
}

/* For a location without a function in mapping mi: 1 and its function's
 * start in the mapping's file, or 0. */
static int location_function(struct top *t, uint32_t mi, uint64_t addr, uint64_t *start) {
  /* Only an address inside the mapping is at a known offset of its file. */
  if (addr < t->map_start[mi] || addr >= t->map_limit[mi]) return 0;
  uint64_t off;
  if (__builtin_add_overflow(addr - t->map_start[mi], t->map_off[mi], &off)) return 0;
  struct elf_fns *fn = mapping_fns(t, mi);
  return fn && elf_fns_find(fn, off, start);
}

/* The basename of mapping mi's file. */
static struct str map_base(const struct top *t, uint32_t mi) {
  struct str s = t->strs[t->map_file[mi]];
  const uint8_t *p = t->data + s.off;
  for (uint32_t i = s.len; i > 0; i--)
    if (p[i - 1] == '/') return (struct str){s.off + i, s.len - i};
  return s;
}

/* One node per function found in a file, per binary, or per address
 * outside any named one, for the locations whose code has no function;
 * names go into t->names. */
static int make_code_nodes(struct top *t) {
  uint32_t *order = malloc(((size_t)t->nlocs + 1) * sizeof *order);
  if (!order) return -ENOMEM;
  uint32_t n = 0;
  size_t names_len = 0;
  for (uint32_t i = 0; i < t->nlocs; i++) {
    const struct loc *l = &t->locs[i];
    if (!l->needs_code_node) continue;
    order[n++] = i;
    /* "0x" and 16 digits; the basename in brackets; or the basename, "+0x"
     * and 16 digits; and a NUL */
    names_len += l->kind == BY_ADDRESS   ? 19
                 : l->kind == BY_MAPPING ? map_base(t, l->mapping).len + 3
                                         : map_base(t, l->mapping).len + 20;
  }
  t->names = malloc(names_len + 1);
  if (!t->names) {
    free(order);
    return -ENOMEM;
  }
  qsort_r(order, n, sizeof *order, loc_key_cmp, t);
  char *name = t->names;
  for (uint32_t k = 0; k < n; k++) {
    struct loc *l = &t->locs[order[k]];
    const struct loc *prev = k ? &t->locs[order[k - 1]] : NULL;
    if (!prev || prev->kind != l->kind || prev->key != l->key || prev->key2 != l->key2) {
      int len;
      if (l->kind == BY_ADDRESS) {
        len = sprintf(name, "0x%" PRIx64, l->key);
      } else {
        struct str base = map_base(t, l->mapping);
        const char *p = (const char *)t->data + base.off;
        if (l->kind == BY_FUNCTION)
          len = sprintf(name, "%.*s+0x%" PRIx64, (int)base.len, p, l->key2);
        else
          len = sprintf(name, "[%.*s]", (int)base.len, p);
      }
      t->nodes[t->nnodes++] =
          (struct node){.name = (const uint8_t *)name, .name_len = (uint32_t)len};
      name += len + 1;
    }
    l->code_node = t->nnodes - 1;
  }
  free(order);
  return 0;
}

/* Locations: ids, addresses, mappings, and the nodes of their lines. */
static int decode_locations(struct top *t) {
  size_t nlines = 0;
  for (uint32_t i = 0; i < t->nlocs; i++) {
    struct loc *l = &t->locs[i];
    struct rd r = l->msg;
    struct field f;
    int rc;
    uint64_t id = 0, map = 0;
    while ((rc = rd_field(&r, &f)) == 1) {
      int err = 0;
      if (f.num == LOCATION_ID) err = varint_of(t, &f, &id);
      if (f.num == LOCATION_MAPPING_ID) err = varint_of(t, &f, &map);
      if (f.num == LOCATION_ADDRESS) err = varint_of(t, &f, &l->addr);
      if (f.num == LOCATION_LINE) {
        int64_t fn = -1;
        if (f.wire != WIRE_BYTES) return bad(t, "a location's line is not a message");
        err = line_function(t, f.body, &fn);
        if (fn < 0) l->needs_code_node = 1; /* a line without a function */
        l->n++;
      }
      if (err) return err;
    }
    if (rc < 0) return bad(t, "malformed location");
    int64_t mi = map ? idmap_find(t->map_ids, t->nmaps, map) : -1;
    if (map && mi < 0) return bad(t, "a location refers to a mapping that is not there");
    if (l->n == 0) {
      l->needs_code_node = 1;
      l->n = 1;
    }
    /* A binary without a name would print as "[]": its address says more. */
    l->kind = BY_ADDRESS;
    l->key = l->addr;
    if (mi >= 0 && t->strs[t->map_file[mi]].len > 0) {
      l->mapping = (uint32_t)mi;
      l->kind = BY_MAPPING;
      l->key = (uint64_t)mi;
      /* Equal file names merge, as equal function names do. */
      if (l->needs_code_node && location_function(t, l->mapping, l->addr, &l->key2)) {
        l->kind = BY_FUNCTION;
        l->key = t->map_file[mi];
      }
    }
    l->first = (uint32_t)nlines;
    nlines += l->n;
    if (nlines > MAX_LINES) {
      t->why = "more lines than grt-pprof handles";
      return -EFBIG;
    }
    t->loc_ids[i] = (struct idmap){id, i};
  }
  int err = idmap_sort(t, t->loc_ids, t->nlocs);
  if (err || (err = make_code_nodes(t))) return err;

  /* Each location's nodes, innermost line first (checked above). */
  t->loc_nodes = malloc((nlines + 1) * sizeof *t->loc_nodes);
  if (!t->loc_nodes) return -ENOMEM;
  for (uint32_t i = 0; i < t->nlocs; i++) {
    struct loc *l = &t->locs[i];
    struct rd r = l->msg;
    struct field f;
    uint32_t j = 0;
    while (rd_field(&r, &f) == 1) {
      if (f.num != LOCATION_LINE) continue;
      int64_t fn = -1;
      line_function(t, f.body, &fn);
      t->loc_nodes[l->first + j++] = fn >= 0 ? t->fn_node[fn] : l->code_node;
    }
    if (j == 0) t->loc_nodes[l->first] = l->code_node;
  }
  return 0;
}

/* Adds every sample's chosen value to its nodes' flat and cum. */
static int add_samples(struct top *t) {
  struct rd r = {t->data, t->data + t->len};
  struct field f;
  uint32_t stamp = 0;
  while (rd_field(&r, &f) == 1) {
    if (f.num != PROFILE_SAMPLE) continue;
    if (stamp == UINT32_MAX) return bad(t, "too many samples");
    stamp++;

    struct rep it = {.msg = f.body, .num = SAMPLE_VALUE};
    uint64_t v;
    int rc;
    uint32_t k = 0;
    int64_t value = 0, count = 0;
    while ((rc = rep_next(&it, &v)) == 1) {
      if ((int64_t)v < 0) return bad(t, "a negative sample value");
      if (k == t->vi) value = (int64_t)v;
      if (k == t->count_i) count = (int64_t)v;
      if (++k > t->ntypes) break;
    }
    if (rc < 0) return bad(t, "malformed sample");
    if (k != t->ntypes) return bad(t, "a sample's values do not match the sample types");
    if (__builtin_add_overflow(t->total, value, &t->total) ||
        __builtin_add_overflow(t->nsamples, count, &t->nsamples))
      return bad(t, "sample values overflow");

    /* flat and cum cannot overflow: each is at most the total. */
    it = (struct rep){.msg = f.body, .num = SAMPLE_LOCATION_ID};
    int leaf = 1;
    while ((rc = rep_next(&it, &v)) == 1) {
      int64_t li = idmap_find(t->loc_ids, t->nlocs, v);
      if (li < 0) return bad(t, "a sample refers to a location that is not there");
      const struct loc *l = &t->locs[li];
      for (uint32_t j = 0; j < l->n; j++) {
        struct node *n = &t->nodes[t->loc_nodes[l->first + j]];
        if (leaf && j == 0) n->flat += value;
        if (n->stamp != stamp) {
          n->stamp = stamp;
          n->cum += value;
        }
      }
      leaf = 0;
    }
    if (rc < 0) return bad(t, "malformed sample");
  }
  return 0;
}

static int decode(struct top *t) {
  int err;
  if (t->len == 0) return bad(t, "an empty file");
  if ((err = count_fields(t)) || (err = alloc_tables(t))) return err;
  collect(t);
  if ((err = decode_types(t)) || (err = decode_mappings(t)) || (err = decode_functions(t)) ||
      (err = decode_locations(t)))
    return err;
  return add_samples(t);
}

/* ---- printing ---- */

/* Output is formatted into a buffer and written out in chunks of about
 * OUT_CHUNK bytes: a profile with millions of functions and a big n must
 * not need its whole table in memory. */
#define OUT_CHUNK (64 * 1024)

struct out {
  int fd;
  char *buf;
  size_t len, cap;
  int err; /* sticky: -ENOMEM or the write's -errno */
};

/* Writes what is buffered (all of it, or only a full chunk's worth). */
static void out_flush(struct out *o, int all) {
  if (o->err || (!all && o->len < OUT_CHUNK)) return;
  o->err = buf_write_all(o->fd, o->buf, o->len);
  o->len = 0;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...) {
  for (int tries = 0; tries < 2 && !o->err; tries++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->err = -EINVAL;
      return;
    }
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    size_t ncap = o->cap ? o->cap : 4096;
    while (ncap - o->len <= (size_t)n)
      ncap *= 2;
    char *nbuf = realloc(o->buf, ncap);
    if (!nbuf) {
      o->err = -ENOMEM;
      return;
    }
    o->buf = nbuf;
    o->cap = ncap;
  }
}

/* A value as pprof prints one: nanoseconds scaled to the largest unit that
 * keeps it >= 1 ("1.50s", "20ms", "0"), other units as plain numbers. */
static void fmt_value(char *buf, size_t size, int64_t v, int ns) {
  static const struct {
    double scale;
    const char *unit;
  } units[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}, {1, "ns"}};
  if (!ns || v == 0) {
    snprintf(buf, size, "%" PRId64, v);
    return;
  }
  size_t u = 0;
  while (u + 1 < sizeof units / sizeof *units && (double)v < units[u].scale)
    u++;
  int n = snprintf(buf, size, "%.2f", (double)v / units[u].scale);
  if (n >= 3 && (size_t)n < size && strcmp(buf + n - 3, ".00") == 0) buf[n - 3] = 0;
  snprintf(buf + strlen(buf), size - strlen(buf), "%s", units[u].unit);
}

/* A percentage as pprof prints one: 6 characters, 2 significant digits
 * at least. */
static void fmt_pct(char *buf, size_t size, int64_t v, int64_t total) {
  double r = total ? (double)v / (double)total * 100 : 0;
  if (r >= 99.95 && r <= 100.05)
    snprintf(buf, size, "  100%%");
  else if (r >= 1)
    snprintf(buf, size, "%5.2f%%", r);
  else
    snprintf(buf, size, "%5.2g%%", r);
}

/* A node's name as raw bytes. */
static void node_name(const struct node *n, const char **p, size_t *len) {
  *p = n->name_len ? (const char *)n->name : "<unknown>";
  *len = n->name_len ? n->name_len : strlen(*p);
}

/* A node's name for printing, control bytes replaced: the file is
 * untrusted and out_fd may be a terminal. */
static void fmt_name(char *buf, size_t size, const struct node *n) {
  const char *p;
  size_t len;
  node_name(n, &p, &len);
  if (len > size - 1) len = size - 1;
  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
  buf[len] = 0;
}

/* pprof's order for -top: flat, then name, then cum. */
static int node_cmp(const void *a, const void *b, void *ctx) {
  uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
  const struct node *x = &((const struct node *)ctx)[ia], *y = &((const struct node *)ctx)[ib];
  if (x->flat != y->flat) return x->flat > y->flat ? -1 : 1;
  const char *nx, *ny;
  size_t lx, ly;
  node_name(x, &nx, &lx);
  node_name(y, &ny, &ly);
  int c = memcmp(nx, ny, lx < ly ? lx : ly);
  if (c) return c;
  if (lx != ly) return lx < ly ? -1 : 1;
  if (x->cum != y->cum) return x->cum > y->cum ? -1 : 1;
  return (ia > ib) - (ia < ib);
}

static int print_top(struct top *t, int n, int out_fd) {
  uint32_t *order = malloc(((size_t)t->nnodes + 1) * sizeof *order);
  if (!order) return -ENOMEM;
  uint32_t shown = 0;
  for (uint32_t i = 0; i < t->nnodes; i++)
    if (t->nodes[i].cum > 0) order[shown++] = i; /* in no sample: not a row */
  qsort_r(order, shown, sizeof *order, node_cmp, t->nodes);
  uint32_t nodes = shown;
  if (shown > (uint32_t)n) shown = (uint32_t)n;

  uint32_t ti = t->vtype, ui = t->vunit;
  int ns = str_is(t, ui, "nanoseconds");
  char v1[64], v2[64], p1[16], p2[16], p3[16], name[NAME_PRINT_MAX + 1];
  struct out o = {.fd = out_fd};

  fmt_value(v1, sizeof v1, t->total, ns);
  if (str_is(t, ti, "cpu") && ns)
    out_printf(&o, "Total: %s CPU", v1);
  else
    out_printf(&o, "Total: %s %.*s/%.*s", v1, (int)t->strs[ti].len,
               (const char *)t->data + t->strs[ti].off, (int)t->strs[ui].len,
               (const char *)t->data + t->strs[ui].off);
  if (t->count_i >= 0) out_printf(&o, " in %" PRId64 " samples", t->nsamples);
  if (t->duration > 0 && ns) {
    fmt_value(v2, sizeof v2, t->duration, 1);
    fmt_pct(p1, sizeof p1, t->total, t->duration);
    /* A multithreaded program can use more CPU than wall time: no cap. */
    out_printf(&o, " over %s (%s)", v2, p1 + strspn(p1, " "));
  }
  int64_t flat_sum = 0;
  for (uint32_t k = 0; k < shown; k++)
    flat_sum += t->nodes[order[k]].flat;
  fmt_value(v1, sizeof v1, flat_sum, ns);
  fmt_pct(p1, sizeof p1, flat_sum, t->total);
  fmt_value(v2, sizeof v2, t->total, ns);
  out_printf(&o, "\nShowing top %u of %u functions, accounting for %s (%s) of %s\n", shown, nodes,
             v1, p1 + strspn(p1, " "), v2);
  out_printf(&o, "%10s %5s%% %5s%% %10s %5s%%  %s\n", "flat", "flat", "sum", "cum", "cum",
             "function");

  flat_sum = 0;
  for (uint32_t k = 0; k < shown; k++) {
    const struct node *nd = &t->nodes[order[k]];
    flat_sum += nd->flat;
    fmt_value(v1, sizeof v1, nd->flat, ns);
    fmt_value(v2, sizeof v2, nd->cum, ns);
    fmt_pct(p1, sizeof p1, nd->flat, t->total);
    fmt_pct(p2, sizeof p2, flat_sum, t->total);
    fmt_pct(p3, sizeof p3, nd->cum, t->total);
    fmt_name(name, sizeof name, nd);
    out_printf(&o, "%10s %s %s %10s %s  %s\n", v1, p1, p2, v2, p3, name);
    out_flush(&o, 0);
  }
  out_flush(&o, 1);
  free(order);
  free(o.buf);
  return o.err;
}

/* ---- the call ---- */

/* One line on stderr, "grt-pprof: ...", written at once. */
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "grt-pprof: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  n += m;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2; /* cut off */
  buf[n++] = '\n';
  ssize_t w = write(2, buf, (size_t)n);
  (void)w;
}

int pprof_top(const char *path, int n, int out_fd) {
  if (!path || n <= 0 || out_fd < 0) {
    warn("%s", !path ? "NULL path" : n <= 0 ? "n must be at least 1" : "negative out_fd");
    return -EINVAL;
  }
  struct top t = {.path = path};
  uint8_t *data = NULL;
  int err = read_file(&t, &data);
  t.data = data;
  if (!err) err = decode(&t);
  if (!err) {
    err = print_top(&t, n, out_fd);
    if (err)
      warn("writing the table to fd %d%s: %s", out_fd, out_fd == 1 ? " (stdout)" : "",
           strerror(-err));
  } else if (err == -EINVAL && t.why) {
    warn("%s: not a pprof profile (%s)", path, t.why);
  } else if (t.why) {
    warn("%s: %s", path, t.why);
  } else {
    warn("%s: %s", path, strerror(-err));
  }
  free(data);
  free(t.strs);
  free(t.types);
  free(t.fn_msgs);
  free(t.fn_ids);
  free(t.fn_name);
  free(t.fn_node);
  free(t.locs);
  free(t.loc_ids);
  free(t.loc_nodes);
  free(t.map_msgs);
  free(t.map_ids);
  free(t.map_file);
  free(t.map_bid);
  free(t.map_start);
  free(t.map_limit);
  free(t.map_off);
  free(t.map_elf);
  for (uint32_t i = 0; i < t.nfiles; i++)
    elf_fns_close(t.files[i].fn);
  free(t.names);
  free(t.nodes);
  return err;
}
