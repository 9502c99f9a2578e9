/*
 * unwind_chain.h - the call chain bench/unwind_cost.c walks, included
 * twice: in unwind_cost.c (built with frame pointers, as grt builds
 * everything) as chain_fp, and in lib/unwind_chain_nofp.c (built
 * -fomit-frame-pointer, as distributions build libraries) as chain_nofp.
 *
 * CHAIN_FN(depth, at_leaf, arg) calls itself depth - 1 times (depth
 * frames of CHAIN_FN), then at_leaf(regs, arg) with regs the registers at
 * a point of the innermost frame whose CFI row is exact (pc, sp, fp taken
 * by one asm statement, which leaves SP alone).  The frames above stay
 * live while at_leaf runs, so it can walk them as often as it likes.
 */
#ifndef CHAIN_FN
#error "define CHAIN_FN before including unwind_chain.h"
#endif
#include <stdint.h>

struct chain_regs {
  uintptr_t pc, sp, fp;
};
typedef void (*chain_leaf_fn)(const struct chain_regs *regs, void *arg);

extern volatile unsigned long chain_sink;

__attribute__((noinline)) void CHAIN_FN(int depth, chain_leaf_fn at_leaf, void *arg) {
  if (depth > 1) {
    CHAIN_FN(depth - 1, at_leaf, arg);
  } else {
    struct chain_regs r;
    /* FP first: without frame pointers an output may be RBP itself. */
    __asm__ volatile("mov %%rbp, %2\n\tlea 1f(%%rip), %0\n1:\n\tmov %%rsp, %1"
                     : "=&r"(r.pc), "=&r"(r.sp), "=&r"(r.fp)
                     :
                     : "memory");
    at_leaf(&r, arg);
  }
  chain_sink++; /* not a tail call: every level keeps its frame */
}
