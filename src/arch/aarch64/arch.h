/*
 * arch.h - the machine seam for aarch64 (AAPCS64, Linux).  Everything
 * outside src/arch/ that needs a register, a ucontext field, the
 * saved-context layout or a stack rule gets it from here; CMake puts this
 * folder on the include path by CMAKE_SYSTEM_PROCESSOR.
 *
 * Included by switch.S (the GCTX_* offsets) and by C.
 *
 * Frames: a frame record is [x29] = the caller's x29, [x29 + 8] = x30 (the
 * return address), the same two words as x86-64's [rbp], [rbp + 8], so the
 * walker's frame-pointer step is shared.  The return address is in the
 * link register (x30) until a function's prologue stores it, and in a leaf
 * that never does: the walker trusts x30 only for the interrupted frame,
 * and only where the unwind rule says the return address is still there
 * (ARCH_HAS_LR; the LR0 rule in base/unwind.h).  Saved return addresses
 * may carry pointer-authentication bits (-mbranch-protection=pac-ret):
 * arch_strip_ra removes them before any lookup.
 */
#ifndef GRT_ARCH_H
#define GRT_ARCH_H

/* struct gctx offsets, shared with switch.S (checked below). */
#define GCTX_SP 0
#define GCTX_PC 8
#define GCTX_FP 16
#define GCTX_X19 24 /* x19..x28: 10 words, stored in pairs */
#define GCTX_X21 40
#define GCTX_X23 56
#define GCTX_X25 72
#define GCTX_X27 88
#define GCTX_D8 104 /* d8..d15: the low halves of v8..v15, callee-saved */
#define GCTX_D10 120
#define GCTX_D12 136
#define GCTX_D14 152
#define GCTX_SIZE 168

#define ARCH_STACK_ALIGN 16 /* SP at all times (AAPCS64 5.2.2.1) */

#ifndef __ASSEMBLER__

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

/* Callee-saved machine state of a goroutine that is not running. */
struct gctx {
  uintptr_t sp, pc, fp;
  uintptr_t x[10]; /* x19..x28 */
  uint64_t d[8];   /* d8..d15 */
};

_Static_assert(offsetof(struct gctx, sp) == GCTX_SP, "ctx layout");
_Static_assert(offsetof(struct gctx, pc) == GCTX_PC, "ctx layout");
_Static_assert(offsetof(struct gctx, fp) == GCTX_FP, "ctx layout");
_Static_assert(offsetof(struct gctx, x[0]) == GCTX_X19, "ctx layout");
_Static_assert(offsetof(struct gctx, x[2]) == GCTX_X21, "ctx layout");
_Static_assert(offsetof(struct gctx, x[4]) == GCTX_X23, "ctx layout");
_Static_assert(offsetof(struct gctx, x[6]) == GCTX_X25, "ctx layout");
_Static_assert(offsetof(struct gctx, x[8]) == GCTX_X27, "ctx layout");
_Static_assert(offsetof(struct gctx, d[0]) == GCTX_D8, "ctx layout");
_Static_assert(offsetof(struct gctx, d[2]) == GCTX_D10, "ctx layout");
_Static_assert(offsetof(struct gctx, d[4]) == GCTX_D12, "ctx layout");
_Static_assert(offsetof(struct gctx, d[6]) == GCTX_D14, "ctx layout");
_Static_assert(sizeof(struct gctx) == GCTX_SIZE, "ctx layout");

/* A fresh goroutine's context: sched_gogo returns into entry with SP at
 * the aligned top of the stack, FP 0 (the walk's end), and arg where
 * sched_goentry expects it (x19, callee-saved). */
static inline void arch_ctx_init(struct gctx *c, uintptr_t stack_hi, uintptr_t entry, void *arg) {
  *c = (struct gctx){0};
  c->sp = stack_hi & ~(uintptr_t)(ARCH_STACK_ALIGN - 1);
  c->pc = entry;
  c->fp = 0;
  c->x[0] = (uintptr_t)arg;
}

/* The interrupted state in a signal handler's ucontext: indices into
 * uc_mcontext.regs[], which the kernel follows with sp and pc (so sp is
 * "regs[31]" and pc "regs[32]"). */
enum { ARCH_GREG_FP = 29, ARCH_GREG_LR = 30, ARCH_GREG_SP = 31, ARCH_GREG_PC = 32 };
_Static_assert(offsetof(mcontext_t, sp) == offsetof(mcontext_t, regs) + 8 * ARCH_GREG_SP &&
                   offsetof(mcontext_t, pc) == offsetof(mcontext_t, regs) + 8 * ARCH_GREG_PC,
               "mcontext layout");
static inline uintptr_t arch_uc_pc(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.pc;
}
static inline uintptr_t arch_uc_sp(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.sp;
}
static inline uintptr_t arch_uc_fp(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.regs[ARCH_GREG_FP];
}
/* The link register: the interrupted frame's return address while its
 * rule says it is still there (a leaf, or before the prologue's store). */
static inline uintptr_t arch_uc_lr(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.regs[ARCH_GREG_LR];
}
#define ARCH_HAS_LR 1

/* A return address without its pointer-authentication code.  XPACLRI
 * (hint #7) strips x30 in place; before Armv8.3 it is a hint, a no-op,
 * and an unsigned address has no bits to strip.  Signal-safe. */
static inline uintptr_t arch_strip_ra(uintptr_t ra) {
  register uintptr_t lr __asm__("x30") = ra;
  __asm__("hint #7" : "+r"(lr));
  return lr;
}

/* There is no fixed return-address slot: a call leaves it in x30, and a
 * prologue saves it where the CFI says (DW_CFA_offset x30).  The walker
 * uses this constant only as the unread placeholder of rules that give no
 * slot (INVALID, STOP); every rule it follows names the slot or LR. */
#define ARCH_RA_CFA_OFFSET 8
/* DWARF register numbers (AAPCS64 DWARF, "DWARF register names"): sp is
 * 31, the frame pointer x29, the return address column x30. */
#define ARCH_DWARF_SP 31
#define ARCH_DWARF_FP 29
#define ARCH_DWARF_RA 30

/* A signal frame, as the walker meets it above a handler: the handler was
 * entered with SP at struct rt_sigframe { siginfo_t; ucontext_t; } (the
 * kernel's __kernel_rt_sigreturn CFI, augmentation "S"), so the
 * interrupted registers are at SP + sizeof(siginfo_t) + the offset of
 * uc_mcontext.regs: regs[0..30], sp, pc, pstate. */
#define ARCH_SIGFRAME_GREGS (128 + 184)
#define ARCH_SIGFRAME_GREGS_SIZE (34 * 8)
_Static_assert(sizeof(siginfo_t) + offsetof(ucontext_t, uc_mcontext.regs) == ARCH_SIGFRAME_GREGS &&
                   offsetof(mcontext_t, pstate) + 8 - offsetof(mcontext_t, regs) ==
                       ARCH_SIGFRAME_GREGS_SIZE,
               "signal frame layout");

/* The linker's PLT stubs.  x86-64's CFA expression has no aarch64 twin:
 * GNU ld writes no CFI for arm64 PLT stubs, so the
 * table compiler synthesizes their rows (base/unwtab.c, ARCH_PLT_NO_CFI):
 * it finds the stubs' sections (arch_plt_section) in the object's section
 * headers and runs through their instructions (arch_plt_cfa_after).  A
 * stub (adrp x16; ldr x17; add x16; br x17, with bti c or autia1716 in the
 * BTI and PAC variants) touches only x16 and x17: the CFA is SP and the
 * return address is still in x30, the LR0 rule.  PLT0, the lazy
 * resolver's stub, first pushes x16 and x30 (stp x16, x30, [sp, #-16]!),
 * so from there to its br the CFA is SP + 16 and the return address is
 * also at CFA + ARCH_PLT_RA_SLOT. */
static inline int arch_plt_expr(const unsigned char *e, uint64_t len, uint8_t *k) {
  (void)e;
  (void)len;
  (void)k;
  return 0;
}
#define ARCH_PLT_NO_CFI 1
#define ARCH_PLT_RA_SLOT (-8) /* PLT0's x30, pushed second */
/* .plt, and .iplt (a static program's IFUNC stubs). */
static inline int arch_plt_section(const char *name) {
  static const char *const names[] = {".plt", ".iplt"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const char *a = name, *b = names[i];
    while (*a && *a == *b)
      a++, b++;
    if (*a == *b) return 1;
  }
  return 0;
}
/* The CFA's offset from SP after the PLT instruction insn, given the one
 * before it. */
static inline int arch_plt_cfa_after(uint32_t insn, int cfa_off) {
  if (insn == 0xa9bf7bf0) return 16;               /* stp x16, x30, [sp, #-16]! */
  if ((insn & 0xfffffc1f) == 0xd61f0000) return 0; /* br xN: the stub has left */
  return cfa_off;
}

/* The calling thread's grt_tls_g slot, computed afresh at every use.  A
 * goroutine that parks (sched_mcall) may resume on another thread, inside
 * the same C function: gcc computes a TLS address from TPIDR_EL0, which it
 * treats as constant within a function and keeps in a register across
 * the call, so a plain access after the park would read the old thread's
 * slot.  The volatile asm reads TPIDR_EL0 again each time (initial-exec:
 * the slot's offset from the GOT, as gcc and switch.S address it).
 * (x86-64 addresses TLS through %fs at every access: no such hook.) */
#define ARCH_TLS_G_FRESH 1
static inline void *arch_tls_g_addr(void) {
  uintptr_t tp, off;
  __asm__ __volatile__("mrs %0, tpidr_el0\n\t"
                       "adrp %1, :gottprel:grt_tls_g\n\t"
                       "ldr %1, [%1, #:gottprel_lo12:grt_tls_g]"
                       : "=r"(tp), "=r"(off));
  return (void *)(tp + off);
}

/* A spin-wait hint. */
static inline void arch_pause(void) {
  __asm__ __volatile__("yield" ::: "memory");
}

#endif /* __ASSEMBLER__ */
#endif /* GRT_ARCH_H */
