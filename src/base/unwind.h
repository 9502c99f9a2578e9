/*
 * unwind.h - the one stack walker.  The SIGPROF handler, goroutine dumps
 * (through process_vm_readv), the stack-overflow report, grt_fatal and the
 * hogs report all walk frames with unw_walk; only the memory reader and
 * the bounds differ.
 *
 * A walk covers one stack segment [lo, hi): the goroutine's frames, or g0's
 * external frames, or g0's runtime frames.  Callers cross from one segment
 * to the next through the runtime's transition records.  Per frame:
 *   1. The rule for the pc: the exact pc for the interrupted frame (leaf),
 *      pc - 1 for a return address (it may be the last byte of a call to
 *      a function that does not return).  Rules come from the tables that
 *      unwtab.c compiles from each module's .eh_frame outside any handler
 *      and publishes with a release store (unw_tables).  Where a module has
 *      no table or a pc no row, the walk takes one frame-pointer step.
 *   2. The CFA (the caller's SP) from SP or FP plus an offset (or the PLT's
 *      rule, or a word at FP + offset for a realigned stack), then bounds,
 *      checked before every load: sp < CFA <= hi, CFA - sp <= 256 KiB,
 *      CFA 8-aligned, and every slot read inside [sp, hi).  So a walk never
 *      reads outside the segment it was given, whatever the stack holds.
 *   3. The return address at CFA - 8 (x86-64; where the rule says on
 *      aarch64) and, when the rule saved it, the caller's FP.  The new SP
 *      is the CFA: SP only rises, so every walk ends.  On a machine with a
 *      link register (ARCH_HAS_LR: aarch64) a rule may say the return
 *      address is still in LR (LR0: a leaf, or a prologue before its
 *      store).  LR is trusted for the interrupted frame only (leaf, with
 *      the LR the signal gave, r.lr); a return address deeper is never
 *      read from it: LR0 there ends the walk BROKEN.  Under LR0 the CFA
 *      may equal SP (a frameless leaf); the step after it rises again, so
 *      walks still end.  Every return address, from memory or LR, is
 *      stripped of pointer-authentication bits (arch_strip_ra).
 *   4. It stops at a STOP rule (DWARF's undefined return address: thread
 *      and goroutine entry, the trampolines' calls into another segment),
 *      at FP 0 in a frame-pointer step (the same ends, for code without
 *      tables), at an INVALID rule (CFI the tables do not support: the
 *      walk ends honestly, BROKEN, instead of guessing), when a check
 *      fails (BROKEN), or when the emitter is full.
 *
 * Header-inline so that in the signal handler the reader, the lookup and
 * the emitter inline into one loop; it allocates nothing, takes no lock,
 * calls nothing but the reader, the emitter and _dl_find_object (glibc:
 * AS-Safe), and reads only the published tables and what the reader reads.
 */
#ifndef GRT_BASE_UNWIND_H
#define GRT_BASE_UNWIND_H

#include "arch.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNW_MIN_PC 4096            /* nothing is mapped in the first page */
#define UNW_MAX_FRAME (256 * 1024) /* a CFA further above SP is not believed */
#define UNW_FP_SAME INT16_MIN      /* rule: the caller's FP is the callee's */

/* What a rule computes the CFA from. */
enum unw_kind {
  UNW_NONE,     /* no CFI here (a gap between FDEs): one frame-pointer step */
  UNW_SP,       /* CFA = SP + cfa_off */
  UNW_FP,       /* CFA = FP + cfa_off */
  UNW_FP_DEREF, /* CFA = *(FP + cfa_off): a realigned stack (gcc's DRAP) */
  UNW_PLT,      /* CFA = SP + cfa_off, + 8 once (pc & 15) >= plt_min */
  UNW_SIGNAL,   /* a signal frame: the interrupted registers are at SP */
  UNW_STOP,     /* the return address is undefined: the segment's base */
  UNW_INVALID,  /* CFI that the tables do not support: the walk ends, broken */
};

/* 12 bytes; tables share each distinct rule (a few hundred per library). */
struct unw_rule {
  uint8_t kind;    /* enum unw_kind */
  uint8_t plt_min; /* UNW_PLT only */
  int16_t fp_off;  /* caller's FP at CFA + fp_off (FP + fp_off for UNW_FP_DEREF), or UNW_FP_SAME */
  int16_t ra_off;  /* return address at CFA + ra_off */
  uint8_t ra_lr;   /* 1: LR0, the return address is still in the link
                      register (ARCH_HAS_LR only; ra_off unused) */
  uint8_t pad;
  int32_t cfa_off;
};

/* One loaded object's table: immutable once published, never freed. */
struct unw_module {
  uintptr_t lo, hi;     /* the pcs its FDEs cover */
  uintptr_t base;       /* load bias: off[] are pcs - base */
  uintptr_t map_start;  /* _dl_find_object's dlfo_map_start; 0: not checked */
  uint32_t n;           /* rows */
  const uint32_t *off;  /* row i covers [off[i], off[i + 1]), sorted */
  const uint16_t *rule; /* row i's rule: rules[rule[i]] */
  const struct unw_rule *rules;
  uintptr_t hdr;    /* its .eh_frame_hdr: with base and name, its identity */
  uint32_t nrules;  /* distinct rules */
  uint32_t invalid; /* INVALID rows (CFI the walker does not follow) */
  size_t bytes;     /* memory of off, rule and rules */
  char name[104];   /* path as the loader gave it (for reports) */
};

/* The published registry: modules sorted by lo, not overlapping. */
struct unw_registry {
  const struct unw_registry *older; /* the one it replaced: kept, reachable (LeakSanitizer) */
  uint32_t n;
  const struct unw_module *mods[];
};
extern const struct unw_registry *_Atomic unw_tables;

/* ---- unwtab.c: building and publishing (normal code, never a handler) ---- */

/* Compiles the tables of every loaded object not yet known (the vDSO too),
 * drops unloaded ones, and publishes the result.  Cheap when nothing was
 * loaded or unloaded since the last call (dl_iterate_phdr's counters).
 * Thread-safe.  0, or -ENOMEM (the previous registry stays). */
int unw_refresh(void);
/* Whether objects were loaded or unloaded since the last refresh: a read of
 * two counters, no lock (after grt_extcall, the collector's poll). */
bool unw_stale(void);
/* Objects that external code dlopens while tables are in use get theirs
 * soon after the call returns, not only at the collector's next poll:
 * after each grt_extcall the runtime asks unw_recheck_due, which costs one
 * relaxed load while no tables were ever built, and says yes at most once
 * every UNW_RECHECK_NS (to the first thread to ask); then unw_recheck
 * compares the loader's counters and refreshes if they moved. */
#define UNW_RECHECK_NS 10000000
extern _Atomic int64_t unw_next_check; /* INT64_MAX until the first build */
static inline bool unw_watching(void) {
  return atomic_load_explicit(&unw_next_check, memory_order_relaxed) != INT64_MAX;
}
static inline bool unw_recheck_due(int64_t now) {
  int64_t due = atomic_load_explicit(&unw_next_check, memory_order_relaxed);
  return now >= due && atomic_compare_exchange_strong(&unw_next_check, &due, now + UNW_RECHECK_NS);
}
void unw_recheck(void);

/* Figures for reports and benchmarks: modules, rows, distinct rules,
 * INVALID rows, bytes, and the time of the last full build. */
struct unw_stats {
  uint32_t modules, rows, rules, invalid_rows;
  size_t bytes;
  int64_t build_ns;
};
void unw_get_stats(struct unw_stats *st);

/* Compiles one loaded object's .eh_frame (found through its
 * PT_GNU_EH_FRAME) into m.  Call it inside dl_iterate_phdr's callback, so
 * the object stays loaded.  Exposed for the table oracle test.  0,
 * -ENOENT (no usable table), -ENOMEM. */
struct dl_phdr_info;
int unw_compile(struct unw_module *m, const struct dl_phdr_info *info);
void unw_module_free(struct unw_module *m); /* only for modules never published */

/* ---- the lookup (any context, the signal handler included) ---- */

/* unwind.c: is pc inside the object mapped at map_start (glibc's
 * _dl_find_object, which is AS-Safe)? */
bool unw_find_object_check(uintptr_t pc, uintptr_t map_start);

/* The row of m that covers pc (the last one at or below it), or -1. */
__attribute__((no_sanitize_address)) static inline int64_t unw_row(const struct unw_module *m,
                                                                   uintptr_t pc) {
  if (pc < m->lo || pc >= m->hi || m->n == 0) return -1;
  uint32_t x = (uint32_t)(pc - m->base), i = 0, j = m->n;
  if (x < m->off[0]) return -1;
  while (j - i > 1) {
    uint32_t mid = i + (j - i) / 2;
    if (m->off[mid] <= x)
      i = mid;
    else
      j = mid;
  }
  return i;
}

/* The rule for pc, or NULL where the tables know none (no module, a gap). */
__attribute__((no_sanitize_address)) static inline const struct unw_rule *unw_find(uintptr_t pc) {
  const struct unw_registry *r = atomic_load_explicit(&unw_tables, memory_order_acquire);
  if (!r || r->n == 0) return NULL;
  uint32_t a = 0, b = r->n; /* the last module with lo <= pc */
  while (b - a > 1) {
    uint32_t mid = a + (b - a) / 2;
    if (r->mods[mid]->lo <= pc)
      a = mid;
    else
      b = mid;
  }
  const struct unw_module *m = r->mods[a];
  int64_t i = unw_row(m, pc);
  if (i < 0) return NULL;
  const struct unw_rule *rule = &m->rules[m->rule[i]];
  if (rule->kind == UNW_NONE) return NULL;
  /* A module unloaded since the last refresh: its table is still there
   * (never freed), but the pc may belong to something mapped since. */
  if (m->map_start && !unw_find_object_check(pc, m->map_start)) return NULL;
  return rule;
}

/* ---- the walk ---- */

/* Reads the word at addr into *w.  The walker has checked addr against the
 * segment's bounds already; false: unreadable (a remote stack gone). */
typedef bool (*unw_read_fn)(void *rd, uintptr_t addr, uintptr_t *w);
/* Takes one return address; false when there is no room for more. */
typedef bool (*unw_emit_fn)(void *out, uintptr_t ret);

enum unw_end {
  UNW_END_BASE,   /* reached the segment's base: every frame seen */
  UNW_END_BROKEN, /* a check failed or the CFI is unsupported: callers unknown */
  UNW_END_FULL,   /* the emitter had no room left */
};

/* A frame's registers: pc (exact if leaf, else a return address), the SP
 * at that pc (for a return address: the caller's SP after the return),
 * the frame pointer register, and the link register (ARCH_HAS_LR: the
 * interrupted frame's, from its ucontext; 0 where unknown, which an LR0
 * rule turns into a BROKEN end). */
struct unw_regs {
  uintptr_t pc, sp, fp, lr;
};

static inline bool unw_inside(uintptr_t p, size_t size, uintptr_t lo, uintptr_t hi) {
  return p >= lo && p <= hi && hi - p >= size;
}

enum unw_step_result { UNW_STEP_OK, UNW_STEP_BASE, UNW_STEP_BROKEN };

/* One frame: from r (and leaf) to the caller's registers; *ret gets the
 * return address to report (for a signal frame, the interrupted pc + 1,
 * so that every report is a return address). */
__attribute__((no_sanitize_address)) static inline enum unw_step_result
unw_step(struct unw_regs *r, bool *leaf, uintptr_t lo, uintptr_t hi, unw_read_fn read, void *rd,
         uintptr_t *ret) {
  const struct unw_rule *rule = unw_find(*leaf ? r->pc : r->pc - 1);
  uintptr_t cfa, ra, fp = r->fp;
  if (!rule) {
    /* No table: one frame-pointer step.  FP 0 is a segment's base (the
     * goroutine entry, a switch routine's FP = 0). */
    if (r->fp == 0) return UNW_STEP_BASE;
    if ((r->fp & 7) || r->fp < r->sp || !unw_inside(r->fp, 16, lo, hi) || !read(rd, r->fp, &fp) ||
        !read(rd, r->fp + 8, &ra))
      return UNW_STEP_BROKEN;
    ra = arch_strip_ra(ra);
    cfa = r->fp + 16;
  } else {
    switch (rule->kind) {
    case UNW_STOP:
      return UNW_STEP_BASE;
    case UNW_SP:
      cfa = r->sp + (intptr_t)rule->cfa_off;
      break;
    case UNW_FP:
      cfa = r->fp + (intptr_t)rule->cfa_off;
      break;
    case UNW_FP_DEREF: {
      uintptr_t at = r->fp + (intptr_t)rule->cfa_off;
      if ((at & 7) || at < r->sp || !unw_inside(at, 8, lo, hi) || !read(rd, at, &cfa))
        return UNW_STEP_BROKEN;
      break;
    }
    case UNW_PLT:
      cfa = r->sp + (intptr_t)rule->cfa_off + ((r->pc & 15) >= rule->plt_min ? 8 : 0);
      break;
    case UNW_SIGNAL: {
      /* The interrupted frame's registers, saved by the kernel at SP: the
       * next frame is a leaf (its pc exact). */
      struct unw_regs s;
      uintptr_t g = r->sp + ARCH_SIGFRAME_GREGS;
      if ((r->sp & 7) || !unw_inside(r->sp, 0, lo, hi) ||
          !unw_inside(g, ARCH_SIGFRAME_GREGS_SIZE, r->sp, hi) ||
          !read(rd, g + 8 * ARCH_GREG_PC, &s.pc) || !read(rd, g + 8 * ARCH_GREG_SP, &s.sp) ||
          !read(rd, g + 8 * ARCH_GREG_FP, &s.fp) || s.pc < UNW_MIN_PC || s.sp <= r->sp || s.sp > hi)
        return UNW_STEP_BROKEN;
      s.lr = 0;
#if ARCH_HAS_LR
      if (!read(rd, g + 8 * ARCH_GREG_LR, &s.lr)) return UNW_STEP_BROKEN;
#endif
      *r = s;
      *leaf = true;
      *ret = s.pc + 1;
      return UNW_STEP_OK;
    }
    default: /* UNW_INVALID */
      return UNW_STEP_BROKEN;
    }
    /* LR0: the interrupted frame's only; its CFA may be SP itself. */
    if (rule->ra_lr && !*leaf) return UNW_STEP_BROKEN;
    if (cfa < r->sp || (cfa == r->sp && !rule->ra_lr) || cfa > hi || cfa - r->sp > UNW_MAX_FRAME ||
        (cfa & 7))
      return UNW_STEP_BROKEN;
    if (rule->ra_lr) {
      ra = r->lr;
    } else {
      uintptr_t ra_at = cfa + (intptr_t)rule->ra_off;
      if ((ra_at & 7) || ra_at < r->sp || !unw_inside(ra_at, 8, lo, hi) || !read(rd, ra_at, &ra))
        return UNW_STEP_BROKEN;
    }
    ra = arch_strip_ra(ra);
    if (rule->fp_off != UNW_FP_SAME) {
      /* gcc's DRAP saved it at FP + fp_off, beside the CFA.  A slot below
       * SP was popped already: an epilogue after its pop of the frame
       * pointer, which compilers leave unmarked in the CFI (the rule still
       * says "saved at CFA + off").  FP holds the caller's value then; the
       * slot is not read. */
      uintptr_t fp_at = (rule->kind == UNW_FP_DEREF ? r->fp : cfa) + (intptr_t)rule->fp_off;
      if (fp_at >= r->sp && ((fp_at & 7) || !unw_inside(fp_at, 8, lo, hi) || !read(rd, fp_at, &fp)))
        return UNW_STEP_BROKEN;
    }
  }
  if (ra < UNW_MIN_PC) return UNW_STEP_BROKEN;
  *r = (struct unw_regs){ra, cfa, fp, 0};
  *leaf = false;
  *ret = ra;
  return UNW_STEP_OK;
}

/* Walks the callers of r within [lo, hi), emitting each return address.
 * *top (if not NULL) gets the highest SP the walk reached: the frames in
 * [r.sp, *top) are the ones it went through.  Every step raises SP, so the
 * walk ends within (hi - r.sp) / 8 steps. */
__attribute__((no_sanitize_address)) static inline enum unw_end
unw_walk(struct unw_regs r, bool leaf, uintptr_t lo, uintptr_t hi, unw_read_fn read, void *rd,
         unw_emit_fn emit, void *out, uintptr_t *top) {
  enum unw_end end;
  for (;;) {
    uintptr_t ret;
    enum unw_step_result st = unw_step(&r, &leaf, lo, hi, read, rd, &ret);
    if (st != UNW_STEP_OK) {
      end = st == UNW_STEP_BASE ? UNW_END_BASE : UNW_END_BROKEN;
      break;
    }
    if (!emit(out, ret)) {
      end = UNW_END_FULL;
      break;
    }
  }
  if (top) *top = r.sp;
  return end;
}

/* The reader for a stack of this thread whose bounds the caller knows:
 * unw_walk has checked addr against them already. */
__attribute__((no_sanitize_address)) static inline bool unw_read_direct(void *rd, uintptr_t addr,
                                                                        uintptr_t *w) {
  (void)rd;
  *w = *(const uintptr_t *)addr;
  return true;
}

#endif
