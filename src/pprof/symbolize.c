/*
 * symbolize.c - code addresses of this process to function/file/line chains
 * (elfutils libdwfl + libdw), and the process's executable mappings with
 * their GNU build IDs, for the pprof writer.
 *
 * Invariants:
 *  - The Dwfl session is a snapshot taken in symbolize_open; modules
 *    loaded later are unknown ("?"), which the writer tolerates.
 *  - Every string handed out (function, file, mapping path) is a copy
 *    interned in s->strs: equal strings are the same pointer, and all stay
 *    valid until symbolize_close, whatever libdw does with its own.
 *  - Each pc is resolved once; its whole inline chain (innermost first) is
 *    kept in s->lines and later calls copy it out of the cache.
 *
 * Not async-signal-safe and not thread-safe: one instance per thread.
 */
#define _GNU_SOURCE
#include "pprof/symbolize.h"

#include "arch.h"
#include "base/buf.h"
#include "base/hash.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Deepest inline chain kept per pc; deeper nesting is cut at the outer end
 * (beyond any real program's inlining depth). */
#define MAX_CHAIN 64

/* A resolved pc: its chain is lines[first .. first + n) (indices, because
 * the lines array moves as it grows). */
struct pc_entry {
  uintptr_t pc;
  uint32_t first, n;
};

/* A frame-state answer (symbolize_frameless_ra_offset). */
struct ra_entry {
  uintptr_t pc;
  int32_t offset;
};

/* Three tables, each an array with a base/hash.h index over it: interned
 * strings (owned copies), resolved pcs, and frame-state answers. */
struct symbolizer {
  Dwfl *dwfl;
  char **strs;
  size_t nstrs, strs_cap;
  struct hash_index str_ix;
  struct pc_entry *cache;
  size_t cache_n, cache_cap;
  struct hash_index cache_ix;
  struct ra_entry *ra;
  size_t ra_n, ra_cap;
  struct hash_index ra_ix;
  struct symbolize_line *lines;
  size_t nlines, lines_cap;
  struct symbolize_mapping *maps;
  int nmaps;
};

static uint32_t hash_pc(uintptr_t pc) {
  return hash_fold(hash_fnv(HASH_FNV_INIT, &pc, sizeof pc));
}

/* ---- interned strings ---- */

static int str_eq(const void *ctx, uint32_t id, const void *key) {
  const struct symbolizer *s = ctx;
  return strcmp(s->strs[id], key) == 0;
}

/* Returns the interned copy of str, or NULL when out of memory. */
static const char *intern(struct symbolizer *s, const char *str) {
  uint32_t h = hash_fold(hash_fnv(HASH_FNV_INIT, str, strlen(str)));
  int64_t id = hash_find(&s->str_ix, h, str_eq, s, str);
  if (id >= 0) return s->strs[id];
  if (hash_reserve(&s->str_ix) || buf_grow(&s->strs, &s->strs_cap, s->nstrs + 1, sizeof *s->strs))
    return NULL;
  char *copy = strdup(str);
  if (!copy) return NULL;
  s->strs[s->nstrs] = copy;
  hash_put(&s->str_ix, h, (uint32_t)s->nstrs++);
  return copy;
}

/* ---- DWARF lookups ---- */

/* The name of a subprogram or inlined_subroutine DIE.  Inlined instances
 * (and out-of-line copies of inline functions) carry no DW_AT_name of their
 * own: it lives on the abstract origin, which dwarf_attr_integrate follows. */
static const char *die_name(Dwarf_Die *die) {
  Dwarf_Attribute attr;
  const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name ? name : "?";
}

static int is_function_scope(Dwarf_Die *die) {
  int tag = dwarf_tag(die);
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

/* Fills out[0..n) for pc in mod from DWARF, innermost first, with libdw's
 * strings (interned by the caller).  Returns n, or 0 when mod has no DWARF
 * scope for pc.
 *
 * As eu-addr2line -i does: dwarf_getscopes finds the innermost scope at pc,
 * but above an inlined instance it continues through the abstract origin's
 * parents, not through the function the code was inlined into.  So only its
 * innermost DIE is used, and dwarf_getscopes_die then gives the physical
 * nesting: scope, ..., inlined_subroutine, ..., subprogram, CU.  Each
 * function-like scope there is one entry; the innermost one's position is
 * pc's line-table row, and each outer one's position is the call site
 * recorded on the inlined_subroutine just inside it (DW_AT_call_file/line). */
static int dwarf_chain(Dwfl_Module *mod, uintptr_t pc, struct symbolize_line *out) {
  Dwarf_Addr bias = 0;
  Dwarf_Die *cudie = dwfl_module_addrdie(mod, pc, &bias);
  if (!cudie) return 0;
  Dwarf_Die *scopes = NULL;
  int nscopes = dwarf_getscopes(cudie, pc - bias, &scopes);
  if (nscopes <= 0) {
    free(scopes);
    return 0;
  }
  Dwarf_Die innermost = scopes[0];
  free(scopes);
  scopes = NULL;
  nscopes = dwarf_getscopes_die(&innermost, &scopes);
  if (nscopes <= 0) {
    free(scopes);
    return 0;
  }

  Dwarf_Files *files = NULL;
  if (dwarf_getsrcfiles(cudie, &files, NULL) != 0) files = NULL;

  int n = 0;
  Dwarf_Die *inner_call = NULL; /* the inlined_subroutine just inside */
  for (int i = 0; i < nscopes && n < MAX_CHAIN; i++) {
    Dwarf_Die *die = &scopes[i];
    if (!is_function_scope(die)) continue;
    struct symbolize_line *l = &out[n];
    l->function = die_name(die);
    l->file = "";
    l->line = 0;
    if (!inner_call) {
      Dwfl_Line *row = dwfl_module_getsrc(mod, pc);
      int lineno = 0;
      const char *file = row ? dwfl_lineinfo(row, NULL, &lineno, NULL, NULL, NULL) : NULL;
      if (file) {
        l->file = file;
        l->line = lineno;
      }
    } else {
      Dwarf_Attribute attr;
      Dwarf_Word val;
      if (files && dwarf_formudata(dwarf_attr(inner_call, DW_AT_call_file, &attr), &val) == 0) {
        const char *file = dwarf_filesrc(files, val, NULL, NULL);
        if (file) l->file = file;
      }
      if (dwarf_formudata(dwarf_attr(inner_call, DW_AT_call_line, &attr), &val) == 0)
        l->line = (int)val;
    }
    n++;
    /* The real (out-of-line) function ends the chain; a subprogram nested
     * in another (a GNU C nested function) is a function of its own. */
    if (dwarf_tag(die) != DW_TAG_inlined_subroutine) break;
    inner_call = die;
  }
  free(scopes);
  return n;
}

/* Resolves pc into out[0..n), strings not yet interned.  Always n >= 1. */
static int resolve(Dwfl *dwfl, uintptr_t pc, struct symbolize_line *out) {
  out[0] = (struct symbolize_line){.function = "?", .file = "", .line = 0};
  Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
  if (!mod) return 1;
  int n = dwarf_chain(mod, pc, out);
  if (n > 0) return n;
  /* No DWARF (stripped library without debuginfo): the ELF symbol, and a
   * line if a line table exists anyway. */
  const char *sym = dwfl_module_addrname(mod, pc);
  if (sym) out[0].function = sym;
  Dwfl_Line *row = dwfl_module_getsrc(mod, pc);
  int lineno = 0;
  const char *file = row ? dwfl_lineinfo(row, NULL, &lineno, NULL, NULL, NULL) : NULL;
  if (file) {
    out[0].file = file;
    out[0].line = lineno;
  }
  return 1;
}

/* ---- the pc cache ---- */

static int pc_eq(const void *ctx, uint32_t id, const void *key) {
  const struct symbolizer *s = ctx;
  return s->cache[id].pc == *(const uintptr_t *)key;
}

/* Resolves pc, interns its chain and records it.  NULL when out of memory. */
static struct pc_entry *cache_fill(struct symbolizer *s, uintptr_t pc) {
  if (hash_reserve(&s->cache_ix) ||
      buf_grow(&s->cache, &s->cache_cap, s->cache_n + 1, sizeof *s->cache))
    return NULL;
  struct symbolize_line chain[MAX_CHAIN];
  int n = resolve(s->dwfl, pc, chain);
  if (buf_grow(&s->lines, &s->lines_cap, s->nlines + (size_t)n, sizeof *s->lines)) return NULL;
  for (int i = 0; i < n; i++) {
    chain[i].function = intern(s, chain[i].function);
    chain[i].file = intern(s, chain[i].file);
    if (!chain[i].function || !chain[i].file) return NULL;
  }
  memcpy(&s->lines[s->nlines], chain, (size_t)n * sizeof *chain);
  struct pc_entry *e = &s->cache[s->cache_n];
  *e = (struct pc_entry){.pc = pc, .first = (uint32_t)s->nlines, .n = (uint32_t)n};
  s->nlines += (size_t)n;
  hash_put(&s->cache_ix, hash_pc(pc), (uint32_t)s->cache_n++);
  return e;
}

int symbolize_pc(symbolizer *s, uintptr_t pc, struct symbolize_line *lines, int max) {
  if (max < 1) return 0;
  int64_t id = hash_find(&s->cache_ix, hash_pc(pc), pc_eq, s, &pc);
  struct pc_entry *e = id >= 0 ? &s->cache[id] : cache_fill(s, pc);
  if (!e) {
    /* Out of memory: still an answer, as the interface promises. */
    lines[0] = (struct symbolize_line){.function = "?", .file = "", .line = 0};
    return 1;
  }
  int n = (int)e->n < max ? (int)e->n : max;
  memcpy(lines, &s->lines[e->first], (size_t)n * sizeof *lines);
  return n;
}

/* ---- frame state at an interrupted instruction ---- */

/* From the CFI (.eh_frame, else .debug_frame) at pc: if the CFA is still
 * SP-based there, the function has not set up its frame pointer (it is
 * frameless, or in its prologue or epilogue), so the frame-pointer register still frames its
 * caller and a frame-pointer walk would skip the caller.  Then the return
 * address is at CFA - ARCH_RA_CFA_OFFSET (the CFA is SP before the call).  */
static int frameless_ra_offset(Dwfl *dwfl, uintptr_t pc) {
  Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
  if (!mod) return -1;
  Dwarf_Addr bias;
  Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
  Dwarf_Frame *frame = NULL;
  if (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0) {
    cfi = dwfl_module_dwarf_cfi(mod, &bias);
    if (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0) return -1;
  }
  Dwarf_Op *ops;
  size_t nops;
  int offset = -1;
  if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && nops == 1) {
    int64_t cfa_off = -1;
    if (ops[0].atom == DW_OP_bregx && ops[0].number == ARCH_DWARF_SP)
      cfa_off = (int64_t)ops[0].number2;
    else if (ops[0].atom == DW_OP_breg0 + ARCH_DWARF_SP)
      cfa_off = (int64_t)ops[0].number;
    if (cfa_off >= ARCH_RA_CFA_OFFSET && cfa_off <= 1 << 20)
      offset = (int)(cfa_off - ARCH_RA_CFA_OFFSET);
  }
  free(frame);
  return offset;
}

static int ra_eq(const void *ctx, uint32_t id, const void *key) {
  const struct symbolizer *s = ctx;
  return s->ra[id].pc == *(const uintptr_t *)key;
}

int symbolize_frameless_ra_offset(symbolizer *s, uintptr_t pc) {
  uint32_t h = hash_pc(pc);
  int64_t id = hash_find(&s->ra_ix, h, ra_eq, s, &pc);
  if (id >= 0) return s->ra[id].offset;
  int offset = frameless_ra_offset(s->dwfl, pc);
  /* Out of memory: the answer is still right, just not remembered. */
  if (!hash_reserve(&s->ra_ix) && !buf_grow(&s->ra, &s->ra_cap, s->ra_n + 1, sizeof *s->ra)) {
    s->ra[s->ra_n] = (struct ra_entry){.pc = pc, .offset = offset};
    hash_put(&s->ra_ix, h, (uint32_t)s->ra_n++);
  }
  return offset;
}

/* ---- mappings ---- */

/* Writes mod's GNU build ID in lowercase hex into hex (65 bytes), or "". */
static void build_id_hex(Dwfl_Module *mod, char hex[65]) {
  hex[0] = 0;
  if (!mod) return;
  /* The build ID is read from the module's ELF file, which libdwfl opens
   * lazily; open it first or a fresh module reports none. */
  Dwarf_Addr bias;
  (void)dwfl_module_getelf(mod, &bias);
  const unsigned char *bits;
  GElf_Addr vaddr;
  int len = dwfl_module_build_id(mod, &bits, &vaddr);
  if (len <= 0 || len > 32) return;
  for (int i = 0; i < len; i++)
    snprintf(hex + 2 * i, 3, "%02x", bits[i]);
}

/* The module reported for a mapping at start, or NULL.  Only files and the
 * vDSO are modules: anonymous code (JITs) has no build ID, and
 * dwfl_addrmodule can answer with a neighbouring module for addresses no
 * module covers (seen for [vsyscall]), so the range is checked too. */
static Dwfl_Module *mapping_module(Dwfl *dwfl, uintptr_t start, const char *path) {
  if (path[0] != '/' && strcmp(path, "[vdso]") != 0) return NULL;
  Dwfl_Module *mod = dwfl_addrmodule(dwfl, start);
  Dwarf_Addr low, high;
  if (!mod || !dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL)) return NULL;
  return low <= start && start < high ? mod : NULL;
}

/* Reads the executable mappings from /proc/self/maps (sorted by address
 * there).  Returns 0, or -1 with errno. */
static int read_mappings(struct symbolizer *s) {
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) return -1;
  char *buf = NULL;
  size_t bufsize = 0;
  int cap = 0, err = 0;
  while (getline(&buf, &bufsize, f) > 0) {
    unsigned long start, limit;
    unsigned long long offset;
    char perms[8];
    int path_at = 0;
    /* start-limit perms offset dev inode [path]; the path may hold spaces */
    if (sscanf(buf, "%lx-%lx %7s %llx %*s %*s %n", &start, &limit, perms, &offset, &path_at) < 4 ||
        path_at == 0)
      continue;
    if (strlen(perms) < 3 || perms[2] != 'x') continue;
    char *path = buf + path_at;
    path[strcspn(path, "\n")] = 0;
    if (s->nmaps == cap) {
      cap = cap ? 2 * cap : 32;
      struct symbolize_mapping *maps = realloc(s->maps, (size_t)cap * sizeof *maps);
      if (!maps) {
        err = ENOMEM;
        break;
      }
      s->maps = maps;
    }
    struct symbolize_mapping *m = &s->maps[s->nmaps];
    m->start = start;
    m->limit = limit;
    m->offset = offset;
    m->file = intern(s, path);
    if (!m->file) {
      err = ENOMEM;
      break;
    }
    build_id_hex(mapping_module(s->dwfl, start, path), m->build_id);
    s->nmaps++;
  }
  free(buf);
  fclose(f);
  if (err) errno = err;
  return err ? -1 : 0;
}

int symbolize_mappings(symbolizer *s, const struct symbolize_mapping **out) {
  *out = s->maps;
  return s->nmaps;
}

/* ---- life cycle ---- */

/* Static because libdwfl keeps a pointer to the callbacks for the session.
 * dwfl_standard_find_debuginfo looks beside the file, in .debug and under
 * /usr/lib/debug (by build ID), then debuginfod if DEBUGINFOD_URLS is set. */
static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

symbolizer *symbolize_open(void) {
  symbolizer *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->dwfl = dwfl_begin(&proc_callbacks);
  if (!s->dwfl) {
    free(s);
    errno = ENOMEM;
    return NULL;
  }
  /* Returns an errno value, or -1 for a libdwfl error (no errno of its own). */
  int r = dwfl_linux_proc_report(s->dwfl, getpid());
  if (r != 0 || dwfl_report_end(s->dwfl, NULL, NULL) != 0) {
    symbolize_close(s);
    errno = r > 0 ? r : EIO;
    return NULL;
  }
  if (read_mappings(s) != 0) {
    int err = errno;
    symbolize_close(s);
    errno = err;
    return NULL;
  }
  return s;
}

void symbolize_close(symbolizer *s) {
  if (!s) return;
  if (s->dwfl) dwfl_end(s->dwfl);
  for (size_t i = 0; i < s->nstrs; i++)
    free(s->strs[i]);
  free(s->strs);
  hash_free(&s->str_ix);
  free(s->cache);
  hash_free(&s->cache_ix);
  free(s->ra);
  hash_free(&s->ra_ix);
  free(s->lines);
  free(s->maps);
  free(s);
}
