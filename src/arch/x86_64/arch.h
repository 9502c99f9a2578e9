/*
 * arch.h - the machine seam for x86-64 (SysV ABI).  Everything outside
 * src/arch/ that needs a register, a ucontext field, the saved-context
 * layout or a stack rule gets it from here; CMake puts this folder on the
 * include path by CMAKE_SYSTEM_PROCESSOR.
 *
 * Included by switch.S (the GCTX_* offsets) and by C.
 */
#ifndef GRT_ARCH_H
#define GRT_ARCH_H

/* struct gctx offsets, shared with switch.S (checked below). */
#define GCTX_SP 0
#define GCTX_PC 8
#define GCTX_FP 16
#define GCTX_RBX 24
#define GCTX_R12 32
#define GCTX_R13 40
#define GCTX_R14 48
#define GCTX_R15 56
#define GCTX_SIZE 64

#define ARCH_STACK_ALIGN 16 /* SP at a call instruction */

#ifndef __ASSEMBLER__

#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

/* Callee-saved machine state of a goroutine that is not running. */
struct gctx {
  uintptr_t sp, pc, fp;
  uintptr_t rbx, r12, r13, r14, r15;
};

_Static_assert(offsetof(struct gctx, sp) == GCTX_SP, "ctx layout");
_Static_assert(offsetof(struct gctx, pc) == GCTX_PC, "ctx layout");
_Static_assert(offsetof(struct gctx, fp) == GCTX_FP, "ctx layout");
_Static_assert(offsetof(struct gctx, rbx) == GCTX_RBX, "ctx layout");
_Static_assert(offsetof(struct gctx, r12) == GCTX_R12, "ctx layout");
_Static_assert(offsetof(struct gctx, r15) == GCTX_R15, "ctx layout");
_Static_assert(sizeof(struct gctx) == GCTX_SIZE, "ctx layout");

/* A fresh goroutine's context: sched_gogo jumps to entry with SP at the
 * aligned top of the stack, FP 0 (the walk's end), and arg where
 * sched_goentry expects it (r12, callee-saved). */
static inline void arch_ctx_init(struct gctx *c, uintptr_t stack_hi, uintptr_t entry, void *arg) {
  *c = (struct gctx){0};
  c->sp = stack_hi & ~(uintptr_t)(ARCH_STACK_ALIGN - 1);
  c->pc = entry;
  c->fp = 0;
  c->r12 = (uintptr_t)arg;
}

/* The interrupted state in a signal handler's ucontext.  glibc names the
 * gregs indices (REG_RIP...) only under _GNU_SOURCE, so they are spelled
 * out here, and checked where the names exist. */
enum { ARCH_GREG_FP = 10, ARCH_GREG_SP = 15, ARCH_GREG_PC = 16 };
#ifdef __USE_GNU
_Static_assert((int)ARCH_GREG_FP == (int)REG_RBP && (int)ARCH_GREG_SP == (int)REG_RSP &&
                   (int)ARCH_GREG_PC == (int)REG_RIP,
               "gregs indices");
#endif
static inline uintptr_t arch_uc_pc(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[ARCH_GREG_PC];
}
static inline uintptr_t arch_uc_sp(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[ARCH_GREG_SP];
}
static inline uintptr_t arch_uc_fp(const void *uc) {
  return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[ARCH_GREG_FP];
}
/* No link register: a call pushes the return address, so it is always in
 * memory and the walker's LR0 rule (base/unwind.h) never arises here. */
static inline uintptr_t arch_uc_lr(const void *uc) {
  (void)uc;
  return 0;
}
#define ARCH_HAS_LR 0

/* Return addresses carry no authentication bits on x86-64. */
static inline uintptr_t arch_strip_ra(uintptr_t ra) {
  return ra;
}

/* Where the return address sits relative to the CFA (the caller's SP
 * before the call): a call pushes it just below. */
#define ARCH_RA_CFA_OFFSET 8
/* DWARF register numbers (SysV psABI, figure 3.36): the stack pointer
 * (rsp), the frame pointer (rbp) and the return address column (rip). */
#define ARCH_DWARF_SP 7
#define ARCH_DWARF_FP 6
#define ARCH_DWARF_RA 16

/* A signal frame, as the walker meets it above a handler: the handler's
 * return address is __restore_rt and the caller's SP (the CFA) is the
 * ucontext_t, whose gregs (ARCH_GREG_*) start 40 bytes in. */
#define ARCH_SIGFRAME_GREGS 40
#define ARCH_SIGFRAME_GREGS_SIZE (23 * 8)
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) == ARCH_SIGFRAME_GREGS &&
                   sizeof(gregset_t) == ARCH_SIGFRAME_GREGS_SIZE,
               "signal frame layout");

/* The PLT's CFA expression: SP + 8, plus 8 more once (pc & 15) >= *k,
 * which is where each 16-byte stub has pushed its index.  Exactly the
 * bytes GNU ld writes: breg7 8; breg16 0; lit15; and; lit<k>; ge; lit3;
 * shl; plus.  (The walker's UNW_PLT rule, base/unwind.h.) */
static inline int arch_plt_expr(const unsigned char *e, uint64_t len, uint8_t *k) {
  static const unsigned char want[] = {0x70 + ARCH_DWARF_SP, /* DW_OP_breg0 + n */
                                       8,
                                       0x70 + ARCH_DWARF_RA,
                                       0,
                                       0x3f,
                                       0x1a,
                                       0x30,
                                       0x2a,
                                       0x33,
                                       0x24,
                                       0x22};
  if (len != sizeof want) return 0;
  for (size_t i = 0; i < sizeof want; i++)
    if (i != 6 && e[i] != want[i]) return 0;
  if (e[6] < 0x30 || e[6] > 0x3f) return 0; /* lit0..lit15 */
  *k = (uint8_t)(e[6] - 0x30);
  return 1;
}

/* Every PLT section has CFI here (ld's unwind info for .plt, .plt.got and
 * .plt.sec), so the table compiler synthesizes no rows for stubs
 * (aarch64's arch.h: ARCH_PLT_NO_CFI 1). */
#define ARCH_PLT_NO_CFI 0
#define ARCH_PLT_RA_SLOT (-8)
static inline int arch_plt_section(const char *name) {
  (void)name;
  return 0;
}
static inline int arch_plt_cfa_after(uint32_t insn, int cfa_off) {
  (void)insn;
  return cfa_off;
}

/* grt_tls_g needs no fresh-address hook: every access to it goes through
 * %fs, so a goroutine that parks and resumes on another thread reads that
 * thread's slot (aarch64's arch.h has ARCH_TLS_G_FRESH 1). */
#define ARCH_TLS_G_FRESH 0

/* A spin-wait hint. */
static inline void arch_pause(void) {
  __builtin_ia32_pause();
}

#endif /* __ASSEMBLER__ */
#endif /* GRT_ARCH_H */
