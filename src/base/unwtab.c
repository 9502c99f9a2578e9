/*
 * unwtab.c - the walker's tables: each loaded object's .eh_frame compiled
 * into sorted rows of simple rules, and the registry the walker reads
 * (base/unwind.h).  Normal code only: it allocates and locks.  The walk
 * itself, in any context, is in unwind.h and unwind.c.
 *
 * Invariants:
 *  - A table is immutable once published, and never freed: a handler may
 *    be reading it at any time (async-profiler's rule).  A registry array
 *    is replaced whole, by one release store of unw_tables; old arrays are
 *    kept too.  So a reader never sees a half-built table or a freed one.
 *  - Tables are compiled inside dl_iterate_phdr's callback, which holds the
 *    loader's lock: no object can be unloaded while its .eh_frame is read.
 *  - Only what the walker can do exactly becomes a rule.  CFA = SP or FP
 *    plus an offset, the PLT's expression, gcc's realigned-stack
 *    expressions (DRAP: the CFA at *(FP + n), the caller's FP at FP + m), signal frames (CIE
 * augmentation "S") and an undefined return address (STOP).  Anything else (a CFA in another
 *    register, the FP or return address saved by an expression or in a
 *    register, an unknown opcode) becomes INVALID from that instruction to
 *    the FDE's end, so a walk through it ends, marked, instead of guessing.
 *  - Every FDE ends with a NONE row, so a gap between functions is never
 *    claimed by the function before it: there the walker takes one
 *    frame-pointer step, the rule for code without tables.
 *  - Where the linker writes no CFI for its PLT stubs (aarch64: arch.h's
 *    ARCH_PLT_NO_CFI), their rows are synthesized from the stubs' own
 *    instructions, found through the section headers of the object's file
 *    and used only if that file is the mapped object (plt_rows).  Nowhere
 *    else is a row made without CFI.
 *  - unw_lock serializes builders; the handler never takes it.
 */
#define _GNU_SOURCE
#include "base/unwind.h"

#include "base/hash.h"
#include "base/lock.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* DWARF call frame instructions (DWARF 5, 6.4.2) and pointer encodings
 * (LSB, .eh_frame). */
enum {
  CFA_nop = 0x00,
  CFA_set_loc = 0x01,
  CFA_advance_loc1 = 0x02,
  CFA_advance_loc2 = 0x03,
  CFA_advance_loc4 = 0x04,
  CFA_offset_extended = 0x05,
  CFA_restore_extended = 0x06,
  CFA_undefined = 0x07,
  CFA_same_value = 0x08,
  CFA_register = 0x09,
  CFA_remember_state = 0x0a,
  CFA_restore_state = 0x0b,
  CFA_def_cfa = 0x0c,
  CFA_def_cfa_register = 0x0d,
  CFA_def_cfa_offset = 0x0e,
  CFA_def_cfa_expression = 0x0f,
  CFA_expression = 0x10,
  CFA_offset_extended_sf = 0x11,
  CFA_def_cfa_sf = 0x12,
  CFA_def_cfa_offset_sf = 0x13,
  CFA_val_offset = 0x14,
  CFA_val_offset_sf = 0x15,
  CFA_val_expression = 0x16,
  CFA_GNU_window_save = 0x2d, /* aarch64: negate_ra_state */
  CFA_GNU_args_size = 0x2e,
  CFA_GNU_negative_offset_extended = 0x2f,
  CFA_advance_loc = 0x40,
  CFA_offset = 0x80,
  CFA_restore = 0xc0,
};
enum {
  PE_omit = 0xff,
  PE_uleb128 = 0x01,
  PE_udata2 = 0x02,
  PE_udata4 = 0x03,
  PE_udata8 = 0x04,
  PE_sleb128 = 0x09,
  PE_sdata2 = 0x0a,
  PE_sdata4 = 0x0b,
  PE_sdata8 = 0x0c,
  PE_pcrel = 0x10,
  PE_datarel = 0x30,
  PE_indirect = 0x80,
};
enum { OP_deref = 0x06, OP_breg0 = 0x70 };

/* ---- reading the sections ------------------------------------------------- */

/* A cursor over [p, end): a read past end sets bad and yields 0, so a
 * malformed section ends its FDE instead of reading past its segment. */
struct cur {
  const uint8_t *p, *end;
  bool bad;
};

static uint64_t rd_bytes(struct cur *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = true;
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)c->p[i] << (8 * i); /* little-endian targets only */
  c->p += n;
  return v;
}

static uint64_t rd_uleb(struct cur *c) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    uint8_t b = (uint8_t)rd_bytes(c, 1);
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80) || c->bad) return v;
  }
}

static int64_t rd_sleb(struct cur *c) {
  uint64_t v = 0;
  unsigned shift = 0;
  uint8_t b;
  do {
    b = (uint8_t)rd_bytes(c, 1);
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
  } while ((b & 0x80) && !c->bad);
  if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
  return (int64_t)v;
}

/* A pointer in encoding enc; datarel is relative to data (.eh_frame_hdr). */
static uintptr_t rd_enc(struct cur *c, uint8_t enc, uintptr_t data) {
  if (enc == PE_omit) return 0;
  uintptr_t at = (uintptr_t)c->p, v;
  switch (enc & 0x0f) {
  case 0x00:
    v = (uintptr_t)rd_bytes(c, sizeof(uintptr_t));
    break;
  case PE_uleb128:
    v = (uintptr_t)rd_uleb(c);
    break;
  case PE_udata2:
    v = (uintptr_t)rd_bytes(c, 2);
    break;
  case PE_udata4:
    v = (uintptr_t)rd_bytes(c, 4);
    break;
  case PE_udata8:
    v = (uintptr_t)rd_bytes(c, 8);
    break;
  case PE_sleb128:
    v = (uintptr_t)rd_sleb(c);
    break;
  case PE_sdata2:
    v = (uintptr_t)(int64_t)(int16_t)rd_bytes(c, 2);
    break;
  case PE_sdata4:
    v = (uintptr_t)(int64_t)(int32_t)rd_bytes(c, 4);
    break;
  case PE_sdata8:
    v = (uintptr_t)rd_bytes(c, 8);
    break;
  default:
    c->bad = true;
    return 0;
  }
  switch (enc & 0x70) {
  case 0x00:
    break;
  case PE_pcrel:
    v += at;
    break;
  case PE_datarel:
    v += data;
    break;
  default:
    c->bad = true;
    return 0; /* textrel/funcrel: not used on Linux */
  }
  if (enc & PE_indirect) c->bad = true; /* only personality pointers use it */
  return v;
}

/* ---- interpreting one FDE ------------------------------------------------- */

enum reg_how { REG_SAME, REG_OFFSET, REG_UNDEF, REG_BAD, REG_AT_FP /* at FP + off (DRAP) */ };

struct cfstate {
  uint8_t cfa; /* UNW_SP, UNW_FP, UNW_FP_DEREF, UNW_PLT or UNW_INVALID */
  uint8_t plt_min;
  int64_t cfa_off;
  uint8_t fp_how, ra_how; /* enum reg_how */
  int64_t fp_off, ra_off;
};

struct cie {
  uintptr_t at;
  int64_t code_align, data_align;
  uint64_t ra_reg;
  uint8_t fde_enc;
  bool aug_z, signal, ok;
  const uint8_t *insns, *insns_end;
};

struct builder {
  uint32_t *off;
  uint16_t *idx;
  size_t n, cap;
  struct unw_rule *rules;
  size_t nrules, rcap;
  struct hash_index rix;
  uintptr_t base;
  uint32_t invalid;
  bool oom;
};

static int rule_eq(const void *ctx, uint32_t id, const void *key) {
  const struct builder *b = ctx;
  return memcmp(&b->rules[id], key, sizeof(struct unw_rule)) == 0;
}

static uint16_t intern_rule(struct builder *b, const struct unw_rule *r) {
  uint32_t h = hash_fold(hash_fnv(HASH_FNV_INIT, r, sizeof *r));
  int64_t id = hash_find(&b->rix, h, rule_eq, b, r);
  if (id >= 0) return (uint16_t)id;
  if (b->nrules >= UINT16_MAX) return 0; /* rule 0 is always INVALID */
  if (b->nrules == b->rcap) {
    size_t cap = b->rcap ? 2 * b->rcap : 64;
    struct unw_rule *n = realloc(b->rules, cap * sizeof *n);
    if (!n) {
      b->oom = true;
      return 0;
    }
    b->rules = n;
    b->rcap = cap;
  }
  if (hash_reserve(&b->rix)) {
    b->oom = true;
    return 0;
  }
  b->rules[b->nrules] = *r;
  hash_put(&b->rix, h, (uint32_t)b->nrules);
  return (uint16_t)b->nrules++;
}

/* The rule a state stands for. */
static struct unw_rule state_rule(const struct cfstate *s, bool signal) {
  struct unw_rule r = {.kind = UNW_INVALID, .fp_off = UNW_FP_SAME, .ra_off = -ARCH_RA_CFA_OFFSET};
  if (signal) {
    r.kind = UNW_SIGNAL;
    return r;
  }
  if (s->ra_how == REG_UNDEF) {
    r.kind = UNW_STOP;
    return r;
  }
  /* The return address still in the link register (aarch64: a leaf, a
   * prologue before its store): LR0, which the walker follows only for the
   * interrupted frame.  Without a link register it is not a rule. */
  bool lr0 = ARCH_HAS_LR && s->ra_how == REG_SAME;
  if (s->cfa == UNW_INVALID || (s->ra_how != REG_OFFSET && !lr0) || s->fp_how == REG_BAD ||
      s->fp_how == REG_UNDEF)
    return r;
  /* gcc's DRAP saves the caller's FP at *(FP + n) (an expression) beside
   * the CFA at *(FP + m): an FP_DEREF rule's fp_off is FP-relative, so
   * neither goes with the other kind of slot. */
  if (s->fp_how != REG_SAME && (s->fp_how == REG_AT_FP) != (s->cfa == UNW_FP_DEREF)) return r;
  if (s->cfa_off < INT32_MIN || s->cfa_off > INT32_MAX ||
      (!lr0 && (s->ra_off < INT16_MIN + 1 || s->ra_off > INT16_MAX || (s->ra_off & 7))) ||
      (s->fp_how != REG_SAME && (s->fp_off <= INT16_MIN || s->fp_off > INT16_MAX)))
    return r;
  r.kind = s->cfa;
  r.plt_min = s->plt_min;
  r.cfa_off = (int32_t)s->cfa_off;
  r.ra_off = (int16_t)s->ra_off;
  r.fp_off = s->fp_how == REG_SAME ? UNW_FP_SAME : (int16_t)s->fp_off;
  if (lr0) {
    r.ra_lr = 1;
    r.ra_off = 0;
  }
  return r;
}

/* Room for n rows; false (and oom) when there is none. */
static bool reserve_rows(struct builder *b, size_t n) {
  while (b->cap < n) {
    size_t cap = b->cap ? 2 * b->cap : 1024;
    uint32_t *o = realloc(b->off, cap * sizeof *o);
    if (o) b->off = o;
    uint16_t *x = o ? realloc(b->idx, cap * sizeof *x) : NULL;
    if (!o || !x) {
      b->oom = true;
      return false;
    }
    b->idx = x;
    b->cap = cap;
  }
  return true;
}

/* Appends the row (pc, rule).  A row at the same pc as the last replaces it
 * (the rule holds from the last advance); one equal to the last is dropped. */
static void add_row(struct builder *b, uintptr_t pc, const struct unw_rule *r) {
  if (b->oom || pc < b->base || pc - b->base > UINT32_MAX) return;
  uint32_t off = (uint32_t)(pc - b->base);
  uint16_t id = intern_rule(b, r);
  if (b->oom) return;
  if (b->n && b->off[b->n - 1] == off) {
    b->n--;
    if (b->n && b->idx[b->n - 1] == id) return;
  } else if (b->n && b->idx[b->n - 1] == id && b->off[b->n - 1] < off) {
    return;
  }
  if (!reserve_rows(b, b->n + 1)) return;
  b->off[b->n] = off;
  b->idx[b->n++] = id;
}

/* A def_cfa_expression: the PLT's, or gcc's realigned stack (DRAP):
 * "breg<FP> n; deref", the CFA saved in the frame.  Else INVALID. */
static void cfa_expr(struct cfstate *s, const uint8_t *e, uint64_t len) {
  struct cur c = {e, e + len, false};
  s->cfa = UNW_INVALID;
  if (arch_plt_expr(e, len, &s->plt_min)) { /* x86-64's PLT; none on aarch64 */
    s->cfa = UNW_PLT;
    s->cfa_off = 8;
    return;
  }
  if (len >= 2 && e[0] == OP_breg0 + ARCH_DWARF_FP) {
    c.p++;
    int64_t n = rd_sleb(&c);
    if (!c.bad && c.p + 1 == c.end && *c.p == OP_deref) {
      s->cfa = UNW_FP_DEREF;
      s->cfa_off = n;
    }
  }
}

static void set_reg(struct cfstate *s, uint64_t reg, uint8_t how, int64_t off) {
  if (reg == ARCH_DWARF_FP) {
    s->fp_how = how;
    s->fp_off = off;
  } else if (reg == ARCH_DWARF_RA) {
    s->ra_how = how;
    s->ra_off = off;
  } else if (reg == ARCH_DWARF_SP && how != REG_SAME) {
    s->cfa = UNW_INVALID; /* SP restored from memory: not a plain CFA */
  }
}

#define STATE_STACK 16

/* Runs a CFA program from *s, adding a row at each advance (rows == NULL:
 * the CIE's initial instructions, which have no location).  init: the
 * state after the CIE, for restore.  Returns false on an unknown opcode or
 * a malformed program (the rest of the FDE is then INVALID). */
static bool run_cfa(struct builder *b, const struct cie *ci, struct cur *c, struct cfstate *s,
                    const struct cfstate *init, uintptr_t *loc, bool rows) {
  struct cfstate stack[STATE_STACK];
  int depth = 0;
  while (c->p < c->end && !c->bad) {
    uint8_t op = (uint8_t)rd_bytes(c, 1);
    uint64_t reg, adv = 0;
    int64_t off;
    switch (op & 0xc0) {
    case CFA_advance_loc:
      adv = op & 0x3f;
      goto advance;
    case CFA_offset:
      off = (int64_t)rd_uleb(c) * ci->data_align;
      set_reg(s, op & 0x3f, REG_OFFSET, off);
      continue;
    case CFA_restore:
      reg = op & 0x3f;
      goto restore;
    }
    switch (op) {
    case CFA_nop:
    case CFA_GNU_window_save: /* aarch64 pointer authentication: the walk strips */
      continue;
    case CFA_set_loc:
      if (!rows) return false;
      {
        uintptr_t to = rd_enc(c, ci->fde_enc, 0);
        if (c->bad || to < *loc) return false;
        adv = (to - *loc) / (uint64_t)ci->code_align;
      }
      goto advance;
    case CFA_advance_loc1:
      adv = rd_bytes(c, 1);
      goto advance;
    case CFA_advance_loc2:
      adv = rd_bytes(c, 2);
      goto advance;
    case CFA_advance_loc4:
      adv = rd_bytes(c, 4);
      goto advance;
    case CFA_offset_extended:
      reg = rd_uleb(c);
      set_reg(s, reg, REG_OFFSET, (int64_t)rd_uleb(c) * ci->data_align);
      continue;
    case CFA_offset_extended_sf:
      reg = rd_uleb(c);
      set_reg(s, reg, REG_OFFSET, rd_sleb(c) * ci->data_align);
      continue;
    case CFA_GNU_negative_offset_extended:
      reg = rd_uleb(c);
      set_reg(s, reg, REG_OFFSET, -(int64_t)rd_uleb(c) * ci->data_align);
      continue;
    case CFA_restore_extended:
      reg = rd_uleb(c);
      goto restore;
    case CFA_undefined:
      set_reg(s, rd_uleb(c), REG_UNDEF, 0);
      continue;
    case CFA_same_value:
      set_reg(s, rd_uleb(c), REG_SAME, 0);
      continue;
    case CFA_register:
      reg = rd_uleb(c);
      rd_uleb(c);
      set_reg(s, reg, REG_BAD, 0);
      continue;
    case CFA_val_offset:
    case CFA_val_offset_sf:
      reg = rd_uleb(c);
      if (op == CFA_val_offset)
        rd_uleb(c);
      else
        rd_sleb(c);
      set_reg(s, reg, REG_BAD, 0);
      continue;
    case CFA_expression:
    case CFA_val_expression: {
      reg = rd_uleb(c);
      uint64_t len = rd_uleb(c);
      if (c->bad || (uint64_t)(c->end - c->p) < len) return false;
      /* "breg<FP> n" alone: the FP saved at FP + n (gcc's DRAP). */
      struct cur e = {c->p, c->p + len, false};
      int64_t n = 0;
      bool at_fp = op == CFA_expression && reg == ARCH_DWARF_FP && len >= 2 &&
                   *e.p++ == OP_breg0 + ARCH_DWARF_FP && (n = rd_sleb(&e), !e.bad && e.p == e.end);
      c->p += len;
      set_reg(s, reg, at_fp ? REG_AT_FP : REG_BAD, n);
      continue;
    }
    case CFA_remember_state:
      if (depth == STATE_STACK) return false;
      stack[depth++] = *s;
      continue;
    case CFA_restore_state: {
      if (depth == 0) return false;
      /* The CFA rule is restored with the registers (DWARF 5 6.4.2.4). */
      *s = stack[--depth];
      continue;
    }
    case CFA_def_cfa:
    case CFA_def_cfa_sf:
      reg = rd_uleb(c);
      s->cfa_off = op == CFA_def_cfa ? (int64_t)rd_uleb(c) : rd_sleb(c) * ci->data_align;
      s->cfa = reg == ARCH_DWARF_SP ? UNW_SP : reg == ARCH_DWARF_FP ? UNW_FP : UNW_INVALID;
      continue;
    case CFA_def_cfa_register:
      reg = rd_uleb(c);
      /* Keeps the offset; from an expression there is none to keep. */
      if (s->cfa == UNW_PLT || s->cfa == UNW_FP_DEREF)
        s->cfa = UNW_INVALID;
      else
        s->cfa = reg == ARCH_DWARF_SP ? UNW_SP : reg == ARCH_DWARF_FP ? UNW_FP : UNW_INVALID;
      continue;
    case CFA_def_cfa_offset:
    case CFA_def_cfa_offset_sf:
      s->cfa_off = op == CFA_def_cfa_offset ? (int64_t)rd_uleb(c) : rd_sleb(c) * ci->data_align;
      if (s->cfa == UNW_PLT || s->cfa == UNW_FP_DEREF) s->cfa = UNW_INVALID;
      continue;
    case CFA_def_cfa_expression: {
      uint64_t len = rd_uleb(c);
      if (c->bad || (uint64_t)(c->end - c->p) < len) return false;
      cfa_expr(s, c->p, len);
      c->p += len;
      continue;
    }
    case CFA_GNU_args_size:
      rd_uleb(c);
      continue;
    default:
      return false;
    }
  advance:
    if (!rows) return false; /* a location in a CIE's initial program */
    {
      struct unw_rule r = state_rule(s, ci->signal);
      add_row(b, *loc, &r);
      *loc += adv * (uint64_t)ci->code_align;
    }
    continue;
  restore:
    if (!init) return false;
    if (reg == ARCH_DWARF_FP) {
      s->fp_how = init->fp_how;
      s->fp_off = init->fp_off;
    } else if (reg == ARCH_DWARF_RA) {
      s->ra_how = init->ra_how;
      s->ra_off = init->ra_off;
    }
  }
  return !c->bad;
}

/* Parses the CIE at p (its length field). */
static bool parse_cie(struct cie *ci, const uint8_t *p, const uint8_t *limit) {
  struct cur c = {p, limit, false};
  memset(ci, 0, sizeof *ci);
  ci->at = (uintptr_t)p;
  uint64_t len = rd_bytes(&c, 4);
  if (len == 0xffffffff || len == 0 || (uint64_t)(limit - c.p) < len) return false;
  const uint8_t *end = c.p + len;
  c.end = end;
  if (rd_bytes(&c, 4) != 0) return false; /* a CIE's id */
  uint8_t version = (uint8_t)rd_bytes(&c, 1);
  if (version != 1 && version != 3) return false;
  const char *aug = (const char *)c.p;
  size_t alen = strnlen(aug, (size_t)(end - c.p));
  if (alen == (size_t)(end - c.p)) return false;
  c.p += alen + 1;
  ci->code_align = (int64_t)rd_uleb(&c);
  ci->data_align = rd_sleb(&c);
  ci->ra_reg = version == 1 ? rd_bytes(&c, 1) : rd_uleb(&c);
  ci->fde_enc = 0; /* absptr */
  const uint8_t *aug_end = NULL;
  for (size_t i = 0; i < alen; i++) {
    switch (aug[i]) {
    case 'z': {
      if (i != 0) return false;
      uint64_t n = rd_uleb(&c);
      if (c.bad || (uint64_t)(end - c.p) < n) return false;
      ci->aug_z = true;
      aug_end = c.p + n;
      break;
    }
    case 'R':
      ci->fde_enc = (uint8_t)rd_bytes(&c, 1);
      break;
    case 'P': {
      uint8_t enc = (uint8_t)rd_bytes(&c, 1);
      rd_enc(&c, enc & 0x7f, 0); /* the personality routine: skipped */
      break;
    }
    case 'L':
      rd_bytes(&c, 1);
      break;
    case 'S':
      ci->signal = true;
      break;
    case 'B': /* aarch64 BTI: no data */
    case 'G': /* MTE-tagged frames: no data */
      break;
    default:
      if (!aug_end) return false; /* an unknown augmentation without 'z' */
      c.p = aug_end;
      i = alen;
    }
  }
  if (aug_end) c.p = aug_end;
  if (c.bad || ci->code_align <= 0 || ci->ra_reg != ARCH_DWARF_RA) return false;
  ci->insns = c.p;
  ci->insns_end = end;
  ci->ok = true;
  return true;
}

#define CIE_CACHE 8

/* Adds the rows of the FDE at p. */
static void add_fde(struct builder *b, const uint8_t *p, const uint8_t *limit, struct cie *cache,
                    int *ncache) {
  struct cur c = {p, limit, false};
  uint64_t len = rd_bytes(&c, 4);
  if (len == 0xffffffff || len == 0 || (uint64_t)(limit - c.p) < len) return;
  const uint8_t *end = c.p + len;
  c.end = end;
  uint32_t cie_ptr = (uint32_t)rd_bytes(&c, 4);
  if (cie_ptr == 0 || c.bad) return; /* a CIE where an FDE was expected */
  const uint8_t *cp = c.p - 4 - cie_ptr;
  struct cie *ci = NULL;
  for (int i = 0; i < *ncache; i++)
    if (cache[i].at == (uintptr_t)cp) ci = &cache[i];
  if (!ci) {
    ci = &cache[*ncache < CIE_CACHE ? (*ncache)++ : (int)((uintptr_t)cp >> 3) % CIE_CACHE];
    if (!parse_cie(ci, cp, limit)) ci->ok = false;
  }
  uintptr_t start = rd_enc(&c, ci->fde_enc, 0);
  uintptr_t range = rd_enc(&c, ci->fde_enc & 0x0f, 0);
  if (c.bad || range == 0 || start < b->base) return;
  if (ci->aug_z) {
    uint64_t n = rd_uleb(&c);
    if (c.bad || (uint64_t)(end - c.p) < n) return;
    c.p += n;
  }
  struct unw_rule bad = {.kind = UNW_INVALID, .fp_off = UNW_FP_SAME, .ra_off = 0};
  if (!ci->ok) {
    add_row(b, start, &bad);
  } else {
    /* Before the CIE's program: the CFA unknown, FP unchanged, the return
     * address where it is at a call: in the link register where there is
     * one (aarch64's CIEs leave x30 unmentioned: "same value"), else not
     * known until the program says (x86-64's CIE puts it at CFA - 8). */
    struct cfstate s = {
        .cfa = UNW_INVALID, .fp_how = REG_SAME, .ra_how = ARCH_HAS_LR ? REG_SAME : REG_BAD};
    struct cur ic = {ci->insns, ci->insns_end, false};
    uintptr_t loc = start;
    if (!run_cfa(b, ci, &ic, &s, NULL, &loc, false)) {
      add_row(b, start, &bad);
    } else {
      struct cfstate init = s;
      if (!run_cfa(b, ci, &c, &s, &init, &loc, true)) {
        if (loc < start + range) add_row(b, loc, &bad);
      } else if (loc < start + range) {
        struct unw_rule r = state_rule(&s, ci->signal);
        add_row(b, loc, &r);
      }
    }
  }
  struct unw_rule none = {.kind = UNW_NONE, .fp_off = UNW_FP_SAME};
  add_row(b, start + range, &none);
}

struct row_pair {
  uint32_t off, seq;
  uint16_t idx;
};

static int by_off_seq(const void *a, const void *b) {
  const struct row_pair *x = a, *y = b;
  if (x->off != y->off) return x->off < y->off ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* FDEs normally come in address order (the .eh_frame_hdr table is sorted),
 * so rows are too; if not, sort them, the later row winning at equal pcs. */
static void sort_rows(struct builder *b) {
  bool sorted = true;
  for (size_t i = 1; i < b->n && sorted; i++)
    sorted = b->off[i - 1] < b->off[i];
  if (sorted) return;
  struct row_pair *v = malloc(b->n * sizeof *v);
  if (!v) {
    b->oom = true;
    return;
  }
  for (size_t i = 0; i < b->n; i++)
    v[i] = (struct row_pair){b->off[i], (uint32_t)i, b->idx[i]};
  qsort(v, b->n, sizeof *v, by_off_seq);
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (n && b->off[n - 1] == v[i].off) n--;
    b->off[n] = v[i].off;
    b->idx[n++] = v[i].idx;
  }
  b->n = n;
  free(v);
}

/* Drops each row whose rule is the one before it (a sort or an insertion
 * may leave such neighbours): one row per change of rule. */
static void merge_rows(struct builder *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (n && b->idx[n - 1] == b->idx[i]) continue;
    b->off[n] = b->off[i];
    b->idx[n++] = b->idx[i];
  }
  b->n = n;
}

/* ---- linker stubs without CFI (ARCH_PLT_NO_CFI: aarch64) ----------------- */

/* The rows of a PLT section at [lo, hi) (pcs), from its instructions at
 * code (arch_plt_cfa_after): CFA = SP with the return address still in
 * the link register (LR0), or, after a stub pushed it, CFA = SP + n with
 * the return address at CFA + ARCH_PLT_RA_SLOT.  Only where no FDE covers
 * any of it (the rows sorted): a linker that does write CFI for its stubs
 * keeps its own rows. */
static void add_plt_rows(struct builder *b, uintptr_t lo, uintptr_t hi, const uint8_t *code) {
  if (lo < b->base || hi <= lo || hi - b->base > UINT32_MAX || ((lo | hi) & 3)) return;
  uint32_t a = (uint32_t)(lo - b->base), z = (uint32_t)(hi - b->base);
  size_t p = 0, q; /* rows [p, q) are the ones at offsets in [a, z) */
  for (size_t j = b->n; p < j;) {
    size_t mid = p + (j - p) / 2;
    if (b->off[mid] < a)
      p = mid + 1;
    else
      j = mid;
  }
  for (q = p; q < b->n && b->off[q] < z;)
    q++;
  /* Uncovered: the row before is a gap (or there is none), and the only
   * row inside, if any, is a gap's start at lo. */
  if (p > 0 && b->rules[b->idx[p - 1]].kind != UNW_NONE) return;
  if (q - p > 1 || (q - p == 1 && (b->off[p] != a || b->rules[b->idx[p]].kind != UNW_NONE))) return;
  struct unw_rule lr0 = {.kind = UNW_SP, .fp_off = UNW_FP_SAME, .ra_lr = 1};
  struct unw_rule none = {.kind = UNW_NONE, .fp_off = UNW_FP_SAME};
  uint16_t none_id = intern_rule(b, &none);
  size_t k = (z - a) / 4 + 1; /* at most a row per instruction, and the end */
  uint32_t *off = malloc(k * sizeof *off);
  uint16_t *idx = malloc(k * sizeof *idx);
  size_t m = 0;
  int cfa = 0;
  for (uint32_t x = a; off && idx && !b->oom && x < z; x += 4) {
    struct unw_rule r = lr0;
    if (cfa) {
      r.cfa_off = cfa;
      r.ra_lr = 0;
      r.ra_off = ARCH_PLT_RA_SLOT;
    }
    uint16_t id = intern_rule(b, &r);
    if (!m || idx[m - 1] != id) {
      off[m] = x;
      idx[m++] = id;
    }
    uint32_t insn;
    memcpy(&insn, code + (x - a), 4);
    cfa = arch_plt_cfa_after(insn, cfa);
  }
  bool end_row = q == b->n || b->off[q] != z; /* the gap after the stubs */
  if (end_row) {
    off[m] = z;
    idx[m++] = none_id;
  }
  if (!off || !idx || b->oom || !reserve_rows(b, b->n - (q - p) + m)) {
    b->oom = true;
    free(off);
    free(idx);
    return;
  }
  /* Replace rows [p, q) (a gap's start at lo, or nothing) by the m new. */
  memmove(b->off + p + m, b->off + q, (b->n - q) * sizeof *b->off);
  memmove(b->idx + p + m, b->idx + q, (b->n - q) * sizeof *b->idx);
  memcpy(b->off + p, off, m * sizeof *off);
  memcpy(b->idx + p, idx, m * sizeof *idx);
  b->n = b->n - (q - p) + m;
  free(off);
  free(idx);
}

/* Whole reads; false on an error or the file's end. */
static bool read_at(int fd, void *buf, size_t len, uint64_t at) {
  for (size_t got = 0; got < len;) {
    ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(at + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += (size_t)r;
  }
  return true;
}

/* The linker writes no CFI for the PLT on some machines (arch.h,
 * ARCH_PLT_NO_CFI), and the program headers do not say where it is: the
 * section headers of the object's file do.  Read from the file the loader
 * mapped (the program's through /proc/self/exe; the vDSO, whose name is
 * no path, has no PLT), and believed only if it is that object: the same
 * program headers, and each stub section's bytes the same in the file and
 * in memory (inside a loaded, readable and executable segment).  No file,
 * or any doubt: no rows, and a pc there gets the frame-pointer step, as
 * before. */
static void plt_rows(struct builder *b, const struct dl_phdr_info *info) {
  const char *path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
  if (!strchr(path, '/')) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ElfW(Ehdr) eh;
  ElfW(Phdr) *ph = NULL;
  ElfW(Shdr) *sh = NULL;
  char *names = NULL;
  uint8_t *bytes = NULL;
  if (!read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_phentsize != sizeof *ph || eh.e_phnum != info->dlpi_phnum ||
      eh.e_shentsize != sizeof *sh || eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum)
    goto out;
  ph = malloc(eh.e_phnum * sizeof *ph);
  sh = malloc(eh.e_shnum * sizeof *sh);
  if (!ph || !sh || !read_at(fd, ph, eh.e_phnum * sizeof *ph, eh.e_phoff) ||
      memcmp(ph, info->dlpi_phdr, eh.e_phnum * sizeof *ph) != 0 ||
      !read_at(fd, sh, eh.e_shnum * sizeof *sh, eh.e_shoff))
    goto out;
  const ElfW(Shdr) *strs = &sh[eh.e_shstrndx];
  if (strs->sh_size == 0 || strs->sh_size > (1 << 20) || !(names = malloc(strs->sh_size)) ||
      !read_at(fd, names, strs->sh_size, strs->sh_offset))
    goto out;
  names[strs->sh_size - 1] = 0;
  for (int i = 0; i < eh.e_shnum; i++) {
    const ElfW(Shdr) *s = &sh[i];
    if (s->sh_type != SHT_PROGBITS || s->sh_name >= strs->sh_size || s->sh_size == 0 ||
        s->sh_size > (64 << 20) ||
        (s->sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) != (SHF_ALLOC | SHF_EXECINSTR) ||
        !arch_plt_section(names + s->sh_name))
      continue;
    bool loaded = false;
    for (int j = 0; j < eh.e_phnum && !loaded; j++)
      loaded = ph[j].p_type == PT_LOAD && (ph[j].p_flags & (PF_R | PF_X)) == (PF_R | PF_X) &&
               s->sh_addr >= ph[j].p_vaddr && s->sh_addr - ph[j].p_vaddr <= ph[j].p_filesz &&
               s->sh_size <= ph[j].p_filesz - (s->sh_addr - ph[j].p_vaddr);
    const uint8_t *mem = (const uint8_t *)(info->dlpi_addr + s->sh_addr);
    free(bytes);
    bytes = NULL;
    if (!loaded || !(bytes = malloc(s->sh_size)) || !read_at(fd, bytes, s->sh_size, s->sh_offset) ||
        memcmp(bytes, mem, s->sh_size) != 0)
      continue;
    add_plt_rows(b, (uintptr_t)mem, (uintptr_t)mem + s->sh_size, mem);
  }
out:
  free(bytes);
  free(names);
  free(sh);
  free(ph);
  close(fd);
}

/* The segment of info that holds addr: reads of the section stop at its
 * end. */
static const uint8_t *segment_end(const struct dl_phdr_info *info, uintptr_t addr) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz)
      return (const uint8_t *)(lo + ph->p_memsz);
  }
  return NULL;
}

int unw_compile(struct unw_module *m, const struct dl_phdr_info *info) {
  const ElfW(Phdr) *hdr_ph = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME) hdr_ph = &info->dlpi_phdr[i];
  if (!hdr_ph) return -ENOENT;
  const uint8_t *hdr = (const uint8_t *)(info->dlpi_addr + hdr_ph->p_vaddr);
  const uint8_t *limit = segment_end(info, (uintptr_t)hdr);
  if (!limit || limit - hdr < 4) return -ENOENT;
  /* .eh_frame_hdr: version 1, then the encodings of eh_frame_ptr,
   * fde_count and the table, whose entries are (initial pc, FDE) pairs
   * sorted by pc. */
  struct cur c = {hdr, limit, false};
  uint8_t version = (uint8_t)rd_bytes(&c, 1), ptr_enc = (uint8_t)rd_bytes(&c, 1),
          count_enc = (uint8_t)rd_bytes(&c, 1), table_enc = (uint8_t)rd_bytes(&c, 1);
  if (version != 1) return -ENOENT;
  rd_enc(&c, ptr_enc, (uintptr_t)hdr);
  uintptr_t count = rd_enc(&c, count_enc, (uintptr_t)hdr);
  if (c.bad || table_enc != (PE_datarel | PE_sdata4) || count == 0 ||
      count > (uintptr_t)(limit - c.p) / 8)
    return -ENOENT;
  struct builder b = {.base = info->dlpi_addr};
  struct unw_rule bad = {.kind = UNW_INVALID, .fp_off = UNW_FP_SAME, .ra_off = 0};
  intern_rule(&b, &bad); /* rule 0 */
  struct cie cache[CIE_CACHE];
  int ncache = 0;
  for (uintptr_t i = 0; i < count && !b.oom; i++) {
    rd_enc(&c, table_enc, (uintptr_t)hdr); /* the pc: the FDE says it again */
    const uint8_t *fde = (const uint8_t *)rd_enc(&c, table_enc, (uintptr_t)hdr);
    const uint8_t *fend = segment_end(info, (uintptr_t)fde);
    if (!c.bad && fend) add_fde(&b, fde, fend, cache, &ncache);
  }
  sort_rows(&b);
  if (ARCH_PLT_NO_CFI && !b.oom) plt_rows(&b, info);
  merge_rows(&b);
  hash_free(&b.rix);
  if (b.oom || b.n == 0) {
    free(b.off);
    free(b.idx);
    free(b.rules);
    return b.oom ? -ENOMEM : -ENOENT;
  }
  memset(m, 0, sizeof *m);
  m->base = b.base;
  m->lo = b.base + b.off[0];
  m->hi = b.base + b.off[b.n - 1]; /* the last row is an FDE's end */
  m->n = (uint32_t)b.n;
  m->off = b.off;
  m->rule = b.idx;
  m->rules = b.rules;
  m->nrules = (uint32_t)b.nrules;
  m->bytes = b.n * (sizeof *b.off + sizeof *b.idx) + b.nrules * sizeof *b.rules;
  for (size_t i = 0; i < b.n; i++)
    if (b.rules[b.idx[i]].kind == UNW_INVALID) m->invalid++;
  const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "(main)";
  snprintf(m->name, sizeof m->name, "%s", name);
  return 0;
}

void unw_module_free(struct unw_module *m) {
  free((void *)m->off);
  free((void *)m->rule);
  free((void *)m->rules);
  memset(m, 0, sizeof *m);
}

/* ---- the registry ---------------------------------------------------------- */

static pthread_mutex_t unw_lock = PTHREAD_MUTEX_INITIALIZER;
static struct unw_module **known; /* every table ever compiled: never freed */
static size_t nknown, known_cap;
static unsigned long long seen_adds, seen_subs;
static _Atomic bool built;
_Atomic int64_t unw_next_check = INT64_MAX;
static int64_t last_build_ns;

struct scan {
  const struct unw_module **mods;
  size_t n, cap;
  bool oom;
  unsigned long long adds, subs;
};

/* The same object as a known table: same name, bias and .eh_frame_hdr. */
static struct unw_module *find_known(const struct dl_phdr_info *info, uintptr_t hdr) {
  const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "(main)";
  for (size_t i = 0; i < nknown; i++)
    if (known[i]->base == info->dlpi_addr && known[i]->hdr == hdr &&
        strncmp(known[i]->name, name, sizeof known[i]->name - 1) == 0)
      return known[i];
  return NULL;
}

static int scan_object(struct dl_phdr_info *info, size_t size, void *arg) {
  struct scan *sc = arg;
  (void)size;
  sc->adds = info->dlpi_adds;
  sc->subs = info->dlpi_subs;
  uintptr_t hdr = 0;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
      hdr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
  if (!hdr) return 0;
  struct unw_module *m = find_known(info, hdr);
  if (!m) {
    if (nknown == known_cap) {
      size_t cap = known_cap ? 2 * known_cap : 64;
      struct unw_module **k = realloc(known, cap * sizeof *k);
      if (!k) {
        sc->oom = true;
        return 0;
      }
      known = k;
      known_cap = cap;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
      sc->oom = true;
      return 0;
    }
    int err = unw_compile(m, info);
    if (err) {
      free(m);
      if (err == -ENOMEM) sc->oom = true;
      return 0;
    }
    m->hdr = hdr;
    struct dl_find_object fo;
    if (_dl_find_object((void *)m->lo, &fo) == 0) m->map_start = (uintptr_t)fo.dlfo_map_start;
    known[nknown++] = m;
  }
  if (sc->n == sc->cap) {
    size_t cap = sc->cap ? 2 * sc->cap : 64;
    const struct unw_module **v = realloc(sc->mods, cap * sizeof *v);
    if (!v) {
      sc->oom = true;
      return 0;
    }
    sc->mods = v;
    sc->cap = cap;
  }
  sc->mods[sc->n++] = m;
  return 0;
}

static int by_lo(const void *a, const void *b) {
  const struct unw_module *x = *(const struct unw_module *const *)a,
                          *y = *(const struct unw_module *const *)b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int counters(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  unsigned long long *c = arg;
  c[0] = info->dlpi_adds;
  c[1] = info->dlpi_subs;
  return 1; /* the counters are the same for every object: one is enough */
}

bool unw_stale(void) {
  if (!atomic_load_explicit(&built, memory_order_acquire)) return true;
  unsigned long long c[2] = {0, 0};
  dl_iterate_phdr(counters, c);
  pthread_mutex_lock(&unw_lock);
  bool stale = c[0] != seen_adds || c[1] != seen_subs;
  pthread_mutex_unlock(&unw_lock);
  return stale;
}

int unw_refresh(void) {
  if (atomic_load_explicit(&built, memory_order_acquire) && !unw_stale()) return 0;
  pthread_mutex_lock(&unw_lock);
  int64_t t0 = nanotime();
  struct scan sc = {0};
  dl_iterate_phdr(scan_object, &sc);
  int err = 0;
  if (sc.oom) {
    err = -ENOMEM;
  } else {
    qsort(sc.mods, sc.n, sizeof *sc.mods, by_lo);
    /* Overlapping objects cannot both be loaded: keep the first. */
    size_t n = 0;
    for (size_t i = 0; i < sc.n; i++)
      if (n == 0 || sc.mods[i]->lo >= sc.mods[n - 1]->hi) sc.mods[n++] = sc.mods[i];
    struct unw_registry *r = malloc(sizeof *r + n * sizeof r->mods[0]);
    if (!r) {
      err = -ENOMEM;
    } else {
      r->n = (uint32_t)n;
      r->older = atomic_load_explicit(&unw_tables, memory_order_relaxed);
      memcpy(r->mods, sc.mods, n * sizeof r->mods[0]);
      /* Publish; the previous array is never freed (a handler may hold it). */
      atomic_store_explicit(&unw_tables, r, memory_order_release);
      seen_adds = sc.adds;
      seen_subs = sc.subs;
      last_build_ns = nanotime() - t0;
      atomic_store_explicit(&built, true, memory_order_release);
      if (atomic_load_explicit(&unw_next_check, memory_order_relaxed) == INT64_MAX)
        atomic_store_explicit(&unw_next_check, 0, memory_order_relaxed);
    }
  }
  free(sc.mods);
  pthread_mutex_unlock(&unw_lock);
  return err;
}

void unw_recheck(void) {
  if (unw_stale()) unw_refresh();
}

void unw_get_stats(struct unw_stats *st) {
  memset(st, 0, sizeof *st);
  pthread_mutex_lock(&unw_lock);
  const struct unw_registry *r = atomic_load_explicit(&unw_tables, memory_order_acquire);
  for (uint32_t i = 0; r && i < r->n; i++) {
    st->modules++;
    st->rows += r->mods[i]->n;
    st->rules += r->mods[i]->nrules;
    st->invalid_rows += r->mods[i]->invalid;
    st->bytes += r->mods[i]->bytes;
  }
  st->build_ns = last_build_ns;
  pthread_mutex_unlock(&unw_lock);
}
