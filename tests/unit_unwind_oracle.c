/*
 * unit_unwind_oracle: the walker's tables (base/unwtab.c) against an
 * independent reader of the same CFI, elfutils libdw (issue 11, test 1).
 *
 * For libz (libz.so.1), libc (libc.so.6) and tests/lib/unwind_oracle_lib.c
 * (built -O2 -fomit-frame-pointer: alloca, a VLA, a tail call, a realigned
 * stack, gcc's DRAP, a frame over 4 KiB; on aarch64 also
 * -mbranch-protection=standard, so pointer authentication's
 * DW_CFA_AARCH64_negate_ra_state and a BTI PLT are in it), the table is
 * compiled with unw_compile inside dl_iterate_phdr's callback, and the
 * same file is opened with libdw (dwarf_getcfi_elf: its .eh_frame).
 * Table offsets are relative to the load bias, so they are the file's
 * vaddrs.  The DWARF register numbers are the test's own (DW_SP, DW_FP,
 * DW_RA, per machine), not arch.h's.
 *
 * Every row [off[i], off[i + 1]) is checked at every pc where libdw's rule
 * changes inside it (dwarf_frame_info gives the extent of libdw's row), so
 * every pc of every row is covered:
 *   - UNW_SP / UNW_FP: libdw's CFA is that register plus cfa_off;
 *   - UNW_FP_DEREF: the CFA expression is breg<FP> cfa_off; deref, and the
 *     caller's FP at FP + fp_off (breg<FP> fp_off) unless the same value;
 *   - UNW_PLT (x86-64): the CFA expression is GNU ld's PLT one, with
 *     lit<plt_min>;
 *   - and for those four, the return address at CFA + ra_off (x86-64:
 *     always CFA - 8, where the call pushed it; aarch64: wherever the
 *     prologue stored x30), or, for an LR0 rule (aarch64), libdw's return
 *     address the same value (still in x30, as libdw's aarch64 default
 *     rule for an unmentioned x30 says); the caller's FP the same value
 *     (UNW_FP_SAME) or at CFA + fp_off; not a signal frame;
 *   - UNW_SIGNAL: libdw says signal frame;
 *   - UNW_STOP: libdw's return address is undefined (and only there);
 *   - UNW_NONE (a gap): libdw finds no FDE either;
 *   - UNW_INVALID: counted (rows per object, and printed); where libdw's
 *     rule is one the walker could have followed (CFA = SP or FP plus an
 *     offset, the return address in a slot or, aarch64, in x30, FP the
 *     same or in a slot), it is a disagreement: a rule given up on.
 *     What remains INVALID is CFI the walker cannot follow: a CFA in
 *     another register (glibc's longjmp and setcontext: x0 or rdi, the
 *     buffer), the return address in another register (x86-64's __vfork,
 *     aarch64's __rawmemchr: x15), the FP in another register, or by an
 *     expression beside a plain CFA (the last instruction of a DRAP
 *     epilogue, and its prologue while the CFA is in r10).
 * A row where libdw finds no FDE is allowed only inside a PLT section of
 * a machine whose linker writes no CFI there (aarch64): the tables
 * synthesize those rows, and every instruction of .plt and .iplt is
 * checked against the stub rules read here from the file's own bytes
 * (CFA = SP with the return address in x30, LR0; after PLT0's stp x16,
 * x30, [sp, #-16]! up to its br, CFA = SP + 16, the return address at
 * CFA - 8).
 * Then, the other way, pcs across each object's text at a fixed stride:
 * wherever libdw finds an FDE, the table has a row that is not NONE.
 * Last, a real walk through gcc's DRAP frame (x86-64; on aarch64 an
 * alloca frame on x29): oracle_drap calls back into this test from its
 * body, and unw_walk (tables published), from the callback's own pc and
 * SP, must go to oracle_drap, to call_drap and on to call_drap's caller.
 *
 * 100% agreement is required.  Printed per object: rows, distinct rules,
 * INVALID rows, bytes of table, pcs compared, the rows by kind (LR0 rows
 * apart) and the synthesized PLT rows.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "base/unwind.h"

/* DWARF register numbers: the stack pointer, the frame pointer and the
 * return address column (SysV psABI x86-64 figure 3.36; AAPCS64's DWARF
 * register names), and whether a call leaves the return address in a
 * link register. */
#if defined(__x86_64__)
enum { DW_SP = 7, DW_FP = 6, DW_RA = 16 };
#define FP_NAME "rbp"
#define HAS_LR 0
#elif defined(__aarch64__)
enum { DW_SP = 31, DW_FP = 29, DW_RA = 30 };
#define FP_NAME "x29"
#define HAS_LR 1
#else
#error "unit_unwind_oracle: this machine's DWARF register numbers"
#endif

#ifndef UNWIND_ORACLE_LIB
#error "UNWIND_ORACLE_LIB: the path of the test library (CMakeLists.txt)"
#endif

#define MAX_REPORTS 25      /* disagreements printed in full */
#define MAX_INVALID_SHOWN 8 /* pcs of INVALID rows shown, per object */

struct object {
  const char *want; /* dlpi_name's basename, or the whole path */
  char path[256];
  struct unw_module m;
  int err;
  bool found;
  uintptr_t text_lo, text_hi; /* file vaddrs of the executable segment */
};

struct tally {
  long pcs, by_kind[UNW_INVALID + 1], lr0_rows, invalid_pcs, invalid_simple, covered, bad;
  long plt_rows, plt_pcs;
};

/* A PLT section without CFI (aarch64), from the file: file vaddrs and its
 * bytes. */
struct plt {
  uintptr_t lo, hi;
  const uint8_t *bytes;
};
#define MAX_PLT 4

static int reports;

static const char *kind_name(int k) {
  static const char *const names[] = {"NONE", "SP",     "FP",   "FP_DEREF",
                                      "PLT",  "SIGNAL", "STOP", "INVALID"};
  return k >= 0 && k <= UNW_INVALID ? names[k] : "?";
}

static bool same_object(const char *name, const char *want) {
  if (!name || !name[0]) return false;
  if (want[0] == '/') return strcmp(name, want) == 0;
  const char *base = strrchr(name, '/');
  return strcmp(base ? base + 1 : name, want) == 0;
}

static int compile_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct object *objs = arg;
  for (struct object *o = objs; o->want; o++) {
    if (o->found || !same_object(info->dlpi_name, o->want)) continue;
    o->found = true;
    snprintf(o->path, sizeof o->path, "%s", info->dlpi_name);
    o->err = unw_compile(&o->m, info);
    for (int i = 0; i < info->dlpi_phnum; i++) {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
        o->text_lo = ph->p_vaddr;
        o->text_hi = ph->p_vaddr + ph->p_memsz;
      }
    }
  }
  return 0;
}

/* The table's row for file vaddr pc: its index, or -1 outside every row. */
static long row_of(const struct unw_module *m, uintptr_t pc) {
  if (m->n == 0 || pc < m->off[0] || pc >= m->off[m->n - 1]) return -1;
  uint32_t i = 0, j = m->n;
  while (j - i > 1) {
    uint32_t mid = i + (j - i) / 2;
    if (m->off[mid] <= pc)
      i = mid;
    else
      j = mid;
  }
  return i;
}

static void fmt_ops(char *buf, size_t cap, const Dwarf_Op *ops, size_t nops, bool null_ops) {
  size_t len = 0;
  buf[0] = 0;
  if (nops == 0) {
    snprintf(buf, cap, "%s", null_ops ? "same_value" : "undefined");
    return;
  }
  for (size_t i = 0; i < nops && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%#x(%lld,%lld)", i ? " " : "", ops[i].atom,
                            (long long)ops[i].number, (long long)ops[i].number2);
}

/* libdw's rules at one pc. */
struct dw_row {
  bool found, signal;
  Dwarf_Addr start, end;
  Dwarf_Op *cfa;
  size_t ncfa;
  Dwarf_Op ra_mem[3], fp_mem[3];
  Dwarf_Op *ra, *fp;
  size_t nra, nfp;
  Dwarf_Frame *frame;
};

static void dw_rules(Dwarf_CFI *cfi, uintptr_t pc, struct dw_row *d) {
  memset(d, 0, sizeof *d);
  if (dwarf_cfi_addrframe(cfi, pc, &d->frame) != 0) return;
  d->found = true;
  CHECK(dwarf_frame_info(d->frame, &d->start, &d->end, &d->signal) == DW_RA);
  CHECK(d->start <= pc && pc < d->end);
  CHECK(dwarf_frame_cfa(d->frame, &d->cfa, &d->ncfa) == 0);
  CHECK(dwarf_frame_register(d->frame, DW_RA, d->ra_mem, &d->ra, &d->nra) == 0);
  CHECK(dwarf_frame_register(d->frame, DW_FP, d->fp_mem, &d->fp, &d->nfp) == 0);
}

static bool dw_undefined(const Dwarf_Op *ops, size_t n, const Dwarf_Op *mem) {
  return n == 0 && ops == mem;
}

/* libdw's "same value": no location, and not the caller's buffer. */
static bool dw_same(const Dwarf_Op *ops, size_t n) {
  return n == 0 && ops == NULL;
}

/* A register at CFA + off: call_frame_cfa; plus_uconst off (libdw writes
 * the signed offset as an unsigned number). */
static bool dw_at_cfa(const Dwarf_Op *ops, size_t n, int64_t off) {
  if (n == 1) return off == 0 && ops[0].atom == DW_OP_call_frame_cfa;
  return n == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst &&
         (int64_t)ops[1].number == off;
}

/* CFA = reg + off. */
static bool dw_cfa_reg(const struct dw_row *d, unsigned reg, int64_t off) {
  if (d->ncfa != 1) return false;
  const Dwarf_Op *o = d->cfa;
  if (o->atom == DW_OP_bregx) return o->number == reg && (int64_t)o->number2 == off;
  return o->atom == DW_OP_breg0 + reg && (int64_t)o->number == off;
}

/* GNU ld's x86-64 PLT expression: breg7 8; breg16 0; lit15; and; lit<k>;
 * ge; lit3; shl; plus.  (aarch64's stubs have no CFI.) */
static bool dw_cfa_plt(const struct dw_row *d, unsigned k) {
#if defined(__x86_64__)
  static const uint8_t want[] = {DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, DW_OP_lit0,
                                 DW_OP_ge,    DW_OP_lit3,   DW_OP_shl,   DW_OP_plus};
  if (d->ncfa != sizeof want) return false;
  for (size_t i = 0; i < sizeof want; i++)
    if (d->cfa[i].atom != (i == 4 ? DW_OP_lit0 + k : want[i])) return false;
  return d->cfa[0].number == 8 && d->cfa[1].number == 0;
#else
  (void)d;
  (void)k;
  return false;
#endif
}

/* The return address at CFA + off: x86-64's call pushes it at CFA - 8,
 * always; an aarch64 prologue stores x30 in any 8-aligned slot. */
static bool dw_ra_at(const struct dw_row *d, int64_t off) {
  if (!HAS_LR && off != -8) return false;
  return (off & 7) == 0 && dw_at_cfa(d->ra, d->nra, off);
}

/* Is libdw's return address rule one the tables express: in a slot at
 * CFA + off (off 8-aligned; CFA - 8 on x86-64), or (LR) still in the
 * link register? */
static bool dw_ra_simple(const struct dw_row *d) {
  if (HAS_LR && dw_same(d->ra, d->nra)) return true;
  if (d->nra == 1) return dw_ra_at(d, 0);
  return d->nra == 2 && d->ra[1].atom == DW_OP_plus_uconst && dw_ra_at(d, (int64_t)d->ra[1].number);
}

/* Is libdw's rule one that the walker's tables express (CFA = SP or FP +
 * offset, the return address as dw_ra_simple says, FP same or at the
 * CFA)?  For the INVALID count. */
static bool dw_simple(const struct dw_row *d) {
  bool cfa = false;
  if (d->ncfa == 1) {
    const Dwarf_Op *o = d->cfa;
    unsigned reg = o->atom == DW_OP_bregx ? (unsigned)o->number : (unsigned)(o->atom - DW_OP_breg0);
    cfa = o->atom == DW_OP_bregx || (o->atom >= DW_OP_breg0 && o->atom <= DW_OP_breg31);
    cfa = cfa && (reg == DW_SP || reg == DW_FP);
  }
  bool fp =
      (d->nfp == 0 && d->fp == NULL) || (d->nfp <= 2 && d->fp[0].atom == DW_OP_call_frame_cfa &&
                                         (d->nfp == 1 || d->fp[1].atom == DW_OP_plus_uconst));
  return !d->signal && cfa && dw_ra_simple(d) && fp;
}

/* What libdw says where the table is INVALID (for the log). */
static void show_invalid(const struct object *o, uintptr_t pc, const struct dw_row *d) {
  char cfa[256], ra[128], fp[128];
  fmt_ops(cfa, sizeof cfa, d->cfa, d->ncfa, false);
  fmt_ops(ra, sizeof ra, d->ra, d->nra, d->ra == NULL);
  fmt_ops(fp, sizeof fp, d->fp, d->nfp, d->fp == NULL);
  Dl_info di = {0};
  dladdr((void *)(o->m.base + pc), &di);
  printf("  INVALID at %#lx (%s): libdw cfa {%s} ra {%s} " FP_NAME " {%s}\n", (unsigned long)pc,
         di.dli_sname ? di.dli_sname : "?", cfa, ra, fp);
}

static void report(const struct object *o, uintptr_t pc, const struct unw_rule *r,
                   const struct dw_row *d, const char *why) {
  if (reports++ >= MAX_REPORTS) return;
  char cfa[256], ra[128], fp[128];
  fmt_ops(cfa, sizeof cfa, d->cfa, d->ncfa, false);
  fmt_ops(ra, sizeof ra, d->ra, d->nra, d->ra == NULL);
  fmt_ops(fp, sizeof fp, d->fp, d->nfp, d->fp == NULL);
  fprintf(stderr,
          "%s: pc %#lx: %s\n  table: %s cfa_off %d ra_off %d%s fp_off %d plt_min %d\n"
          "  libdw: %s [%#lx, %#lx)%s cfa {%s} ra {%s} " FP_NAME " {%s}\n",
          o->path, (unsigned long)pc, why, kind_name(r ? r->kind : UNW_NONE), r ? r->cfa_off : 0,
          r ? r->ra_off : 0, r && r->ra_lr ? " (LR0)" : "", r ? r->fp_off : 0, r ? r->plt_min : 0,
          d->found ? "row" : "no FDE", (unsigned long)d->start, (unsigned long)d->end,
          d->signal ? " signal" : "", cfa, ra, fp);
}

/* Checks the table's rule r (NULL: a NONE row) at pc against libdw's d.
 * Returns NULL when they agree, else what disagrees. */
static const char *disagreement(const struct unw_rule *r, const struct dw_row *d) {
  int kind = r ? r->kind : UNW_NONE;
  if (kind == UNW_NONE) return d->found ? "libdw has an FDE where the table has a gap" : NULL;
  if (!d->found) return "libdw has no FDE where the table has a row";
  bool ra_undef = dw_undefined(d->ra, d->nra, d->ra_mem);
  switch (kind) {
  case UNW_SIGNAL:
    return d->signal ? NULL : "SIGNAL, but libdw's frame is not a signal frame";
  case UNW_STOP:
    if (d->signal) return "STOP, but libdw's frame is a signal frame";
    return ra_undef ? NULL : "STOP, but libdw's return address is not undefined";
  case UNW_INVALID:
    return NULL;
  }
  if (d->signal) return "a signal frame that the table does not mark";
  if (ra_undef) return "libdw's return address is undefined (STOP) where the table has a rule";
  switch (kind) {
  case UNW_SP:
  case UNW_FP:
    if (!dw_cfa_reg(d, kind == UNW_SP ? DW_SP : DW_FP, r->cfa_off)) return "CFA register or offset";
    break;
  case UNW_FP_DEREF:
    if (d->ncfa != 2 || d->cfa[0].atom != DW_OP_breg0 + DW_FP ||
        (int64_t)d->cfa[0].number != r->cfa_off || d->cfa[1].atom != DW_OP_deref)
      return "CFA expression (breg<FP> n; deref)";
    break;
  case UNW_PLT:
    if (r->cfa_off != 8 || !dw_cfa_plt(d, r->plt_min)) return "CFA expression (PLT)";
    break;
  default:
    return "unknown kind";
  }
  if (r->ra_lr) {
    /* LR0: the return address still in the link register, which libdw
     * says as "same value" (its aarch64 default for x30). */
    if (!HAS_LR) return "LR0 on a machine without a link register";
    if (!dw_same(d->ra, d->nra)) return "LR0, but libdw's return address is not the same value";
  } else if (!dw_ra_at(d, r->ra_off)) {
    return "return address slot";
  }
  if (r->fp_off == UNW_FP_SAME) {
    if (d->nfp != 0 || d->fp != NULL) return "FP: the table says same value";
  } else if (kind == UNW_FP_DEREF) {
    /* gcc's DRAP: the caller's FP at FP + fp_off (libdw: the expression
     * after the CFA that DW_CFA_expression pushes first). */
    if (d->nfp != 2 || d->fp[0].atom != DW_OP_call_frame_cfa ||
        d->fp[1].atom != DW_OP_breg0 + DW_FP || (int64_t)d->fp[1].number != r->fp_off)
      return "FP slot (breg<FP> n)";
  } else if (!dw_at_cfa(d->fp, d->nfp, r->fp_off)) {
    return "FP slot";
  }
  return NULL;
}

/* ---- PLT sections without CFI (aarch64) ---- */

/* The object's stub sections whose rows the tables synthesize (arch.h's
 * ARCH_PLT_NO_CFI; GNU ld writes no CFI for aarch64's PLT): .plt and
 * .iplt, with the file's bytes.  None on x86-64, where ld writes CFI for
 * every PLT and a row without an FDE is a disagreement. */
static int find_plts(Elf *elf, struct plt *plts) {
  int n = 0;
  if (!HAS_LR) return 0;
  size_t shstrndx;
  CHECK(elf_getshdrstrndx(elf, &shstrndx) == 0);
  for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
    GElf_Shdr sh;
    CHECK(gelf_getshdr(scn, &sh));
    const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!name || (strcmp(name, ".plt") != 0 && strcmp(name, ".iplt") != 0) || sh.sh_size == 0)
      continue;
    Elf_Data *data = elf_getdata(scn, NULL);
    CHECK(data && data->d_size == sh.sh_size && n < MAX_PLT);
    plts[n++] = (struct plt){sh.sh_addr, sh.sh_addr + sh.sh_size, data->d_buf};
  }
  return n;
}

static const struct plt *plt_of(const struct plt *plts, int n, uintptr_t pc) {
  for (int i = 0; i < n; i++)
    if (pc >= plts[i].lo && pc < plts[i].hi) return &plts[i];
  return NULL;
}

/* What the stub rule at pc must be: a stub touches only x16 and x17, so
 * CFA = SP and the return address is in x30 (LR0); PLT0 pushes x16 and
 * x30 (stp x16, x30, [sp, #-16]!, 0xa9bf7bf0), so after it, up to and
 * including its br (br xN: 0xd61f0000 | n << 5), CFA = SP + 16 and x30
 * at CFA - 8. */
static const char *plt_disagreement(const struct plt *p, uintptr_t pc, const struct unw_rule *r) {
  int cfa = 0;
  for (uintptr_t a = p->lo; a < pc; a += 4) {
    uint32_t insn;
    memcpy(&insn, p->bytes + (a - p->lo), 4);
    if (insn == 0xa9bf7bf0)
      cfa = 16;
    else if ((insn & 0xfffffc1f) == 0xd61f0000)
      cfa = 0;
  }
  if (!r || r->kind != UNW_SP) return "a PLT stub without an SP rule";
  if (r->cfa_off != cfa) return "a PLT stub's CFA offset";
  if (r->fp_off != UNW_FP_SAME) return "a PLT stub's FP (stubs never touch it)";
  if (cfa == 0 && !r->ra_lr) return "a PLT stub's return address: still in x30 (LR0)";
  if (cfa != 0 && (r->ra_lr || r->ra_off != -8)) return "PLT0's return address: at CFA - 8";
  return NULL;
}

static void check_object(struct object *o, struct tally *t) {
  const struct unw_module *m = &o->m;
  elf_version(EV_CURRENT);
  int fd = open(o->path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  CHECK(elf);
  Dwarf_CFI *cfi = dwarf_getcfi_elf(elf);
  CHECK(cfi);
  struct plt plts[MAX_PLT];
  int nplts = find_plts(elf, plts);

  /* The table's own shape: sorted rows, a NONE row last, indices in range. */
  CHECK(m->n >= 2 && m->nrules >= 1 && m->lo == m->base + m->off[0] &&
        m->hi == m->base + m->off[m->n - 1]);
  CHECK(m->rules[m->rule[m->n - 1]].kind == UNW_NONE);
  uint32_t invalid = 0;
  for (uint32_t i = 0; i < m->n; i++) {
    CHECK(m->rule[i] < m->nrules);
    CHECK(i == 0 || m->off[i - 1] < m->off[i]);
    CHECK(i == 0 || m->rule[i - 1] != m->rule[i]); /* equal neighbours are merged */
    invalid += m->rules[m->rule[i]].kind == UNW_INVALID;
    t->by_kind[m->rules[m->rule[i]].kind]++;
    t->lr0_rows += m->rules[m->rule[i]].ra_lr;
    t->plt_rows += m->rules[m->rule[i]].kind != UNW_NONE && plt_of(plts, nplts, m->off[i]);
  }
  CHECK(invalid == m->invalid);

  /* Every row, at every pc where libdw's row changes inside it. */
  for (uint32_t i = 0; i + 1 < m->n; i++) {
    const struct unw_rule *rule = &m->rules[m->rule[i]];
    const struct unw_rule *r = rule->kind == UNW_NONE ? NULL : rule;
    uintptr_t end = m->off[i + 1];
    if (!r) {
      /* A gap: its first, middle and last pc. */
      uintptr_t pcs[3] = {m->off[i], m->off[i] + (end - m->off[i]) / 2, end - 1};
      for (int k = 0; k < 3; k++) {
        struct dw_row d;
        dw_rules(cfi, pcs[k], &d);
        t->pcs++;
        const char *why = disagreement(NULL, &d);
        if (why) {
          report(o, pcs[k], NULL, &d, why);
          t->bad++;
        }
        free(d.frame);
      }
      continue;
    }
    for (uintptr_t pc = m->off[i]; pc < end;) {
      struct dw_row d;
      dw_rules(cfi, pc, &d);
      t->pcs++;
      if (!d.found && plt_of(plts, nplts, pc)) {
        /* A synthesized stub row: every instruction, below. */
        pc = end;
        continue;
      }
      const char *why = disagreement(r, &d);
      if (why) {
        report(o, pc, r, &d, why);
        t->bad++;
      }
      if (r->kind == UNW_INVALID) {
        t->invalid_pcs++;
        if (t->invalid_pcs <= MAX_INVALID_SHOWN) show_invalid(o, pc, &d);
        /* INVALID where libdw's rule is one the tables express: a rule
         * the compiler gave up on. */
        if (d.found && dw_simple(&d)) {
          t->invalid_simple++;
          report(o, pc, r, &d, "INVALID, but libdw's rule is a simple one");
          t->bad++;
        }
      }
      uintptr_t next = d.found && d.end > pc ? (uintptr_t)d.end : end;
      free(d.frame);
      pc = next;
    }
  }

  /* Every instruction of the PLT sections without CFI: the stub rule. */
  for (int k = 0; k < nplts; k++) {
    for (uintptr_t pc = plts[k].lo; pc < plts[k].hi; pc += 4) {
      struct dw_row d;
      dw_rules(cfi, pc, &d);
      long i = row_of(m, pc);
      const struct unw_rule *r = i >= 0 ? &m->rules[m->rule[i]] : NULL;
      const char *why = d.found ? NULL : plt_disagreement(&plts[k], pc, r);
      t->plt_pcs += !d.found;
      if (why) {
        report(o, pc, r, &d, why);
        t->bad++;
      }
      free(d.frame);
    }
  }

  /* The other way: wherever libdw finds an FDE, the table has a row. */
  for (uintptr_t pc = o->text_lo; pc < o->text_hi; pc += 61) {
    struct dw_row d;
    dw_rules(cfi, pc, &d);
    long i = row_of(m, pc);
    if (d.found) {
      t->covered++;
      const struct unw_rule *r = i >= 0 ? &m->rules[m->rule[i]] : NULL;
      if (!r || r->kind == UNW_NONE) {
        report(o, pc, NULL, &d, "libdw has an FDE that the table does not cover");
        t->bad++;
      }
    }
    free(d.frame);
  }
  dwarf_cfi_end(cfi);
  elf_end(elf);
  close(fd);
}

/* ---- a walk through the DRAP frame, with the tables published ---- */

static uintptr_t walked[64], call_drap_ret;
static int nwalked;
static uintptr_t stack_hi;

static bool emit(void *out, uintptr_t ret) {
  (void)out;
  if (nwalked == 64) return false;
  walked[nwalked++] = ret;
  return true;
}

/* From oracle_drap's body: walk from here, this function's own pc and SP
 * (one asm, so the two go together), up through oracle_drap.  Its rule
 * comes from this program's table like any other frame's, so the walk
 * needs no assumption about where this frame keeps its return address. */
__attribute__((noinline)) static void hook(void) {
  uintptr_t pc, sp;
#if defined(__x86_64__)
  __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1" : "=r"(pc), "=r"(sp));
#elif defined(__aarch64__)
  __asm__ volatile("adr %0, .\n\tmov %1, sp" : "=r"(pc), "=r"(sp));
#endif
  struct unw_regs r = {pc, sp, (uintptr_t)__builtin_frame_address(0), 0};
  nwalked = 0;
  unw_walk(r, true, r.sp, stack_hi, unw_read_direct, NULL, emit, NULL, NULL);
}

__attribute__((noinline)) static uint64_t call_drap(uint64_t (*f)(int)) {
  call_drap_ret = (uintptr_t)__builtin_return_address(0);
  uint64_t v = f(100);
  __asm__ volatile("" : : "r"(v) : "memory");
  return v + 1;
}

static void walk_drap(void *lib) {
  pthread_attr_t a;
  void *addr;
  size_t size;
  CHECK(pthread_getattr_np(pthread_self(), &a) == 0);
  CHECK(pthread_attr_getstack(&a, &addr, &size) == 0);
  pthread_attr_destroy(&a);
  stack_hi = (uintptr_t)addr + size;
  void (**hookp)(void) = dlsym(lib, "oracle_hook");
  uint64_t (*drap)(int) = (uint64_t(*)(int))(uintptr_t)dlsym(lib, "oracle_drap");
  CHECK(hookp && drap);
  CHECK(unw_refresh() == 0);
  *hookp = hook;
  call_drap(drap);
  *hookp = NULL;
  /* hook's return address into oracle_drap, oracle_drap's into
   * call_drap, then call_drap's own. */
  Dl_info di;
  const ElfW(Sym) *sym = NULL;
  CHECK(dladdr1((void *)(uintptr_t)drap, &di, (void **)&sym, RTLD_DL_SYMENT) && sym);
  printf("walk from oracle_drap's body: %d frames; the first three %#lx %#lx %#lx (oracle_drap: "
         "%#lx, call_drap: %#lx, its return address %#lx)\n",
         nwalked, nwalked > 0 ? (unsigned long)walked[0] : 0UL,
         nwalked > 1 ? (unsigned long)walked[1] : 0UL, nwalked > 2 ? (unsigned long)walked[2] : 0UL,
         (unsigned long)(uintptr_t)drap, (unsigned long)(uintptr_t)call_drap,
         (unsigned long)call_drap_ret);
  CHECK(nwalked >= 3);
  CHECK(walked[0] > (uintptr_t)drap && walked[0] <= (uintptr_t)drap + sym->st_size);
  CHECK(walked[1] > (uintptr_t)call_drap && walked[1] < (uintptr_t)call_drap + 256);
  CHECK(walked[2] == call_drap_ret);
}

int main(void) {
  void *z = dlopen("libz.so.1", RTLD_NOW);
  void *lib = dlopen(UNWIND_ORACLE_LIB, RTLD_NOW);
  CHECK(z && lib);
  struct object objs[] = {
      {.want = "libz.so.1"}, {.want = "libc.so.6"}, {.want = UNWIND_ORACLE_LIB}, {0}};
  dl_iterate_phdr(compile_cb, objs);
  long total_bad = 0;
  for (struct object *o = objs; o->want; o++) {
    CHECK(o->found);
    if (o->err) fprintf(stderr, "%s: unw_compile: %d\n", o->path, o->err);
    CHECK(o->err == 0 && o->text_hi > o->text_lo);
    struct tally t = {0};
    printf("%s:\n", o->path);
    check_object(o, &t);
    printf("  %u rows, %u rules, %u invalid, %zu bytes; %ld pcs compared, %ld pcs in "
           "INVALID rows (%ld of them simple for libdw), %ld text pcs with an FDE covered\n",
           o->m.n, o->m.nrules, o->m.invalid, o->m.bytes, t.pcs, t.invalid_pcs, t.invalid_simple,
           t.covered);
    printf("  rows by kind:");
    for (int k = 0; k <= UNW_INVALID; k++)
      if (t.by_kind[k]) printf(" %s %ld", kind_name(k), t.by_kind[k]);
    printf(" (LR0 %ld of the SP and FP rows)", t.lr0_rows);
    if (t.plt_pcs) printf("; PLT stubs without CFI: %ld pcs, %ld rows", t.plt_pcs, t.plt_rows);
    printf("\n  disagreements: %ld\n", t.bad);
    total_bad += t.bad;
    unw_module_free(&o->m);
  }
  walk_drap(lib);
  if (reports > MAX_REPORTS) fprintf(stderr, "(%d more disagreements)\n", reports - MAX_REPORTS);
  CHECK(total_bad == 0);
  dlclose(lib);
  dlclose(z);
  printf("ok\n");
  return 0;
}
