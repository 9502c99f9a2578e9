/*
 * switch.S - every routine that writes the stack pointer (aarch64, AAPCS64).
 *
 * These are the only places where SP moves between stacks.  The profiler
 * treats a PC inside any of them as "mid-switch" and records grt._System
 * instead of unwinding (docs/design.md, the decision table, row 2);
 * grt_switch_ranges() in sched.c exports their [start, end) ranges from the
 * *_end labels below, and a test compares them with `nm -S`.
 *
 * Write order, the same in every routine and the same as x86-64's: TLS g
 * first, then FP (x29), then SP, and PC last (the blr, or the ret).  So at
 * every instruction outside these routines, TLS g, SP and FP agree; inside
 * them, PC alone identifies the state as inconsistent.
 *
 * A goroutine's saved context (struct gctx, arch.h) holds sp, pc, x29,
 * the callee-saved x19..x28 and d8..d15.  sched_gogo resumes it with `ret`
 * (never `br`): a return is not a BTI-checked branch, so the resumed pc (a
 * return address, or sched_goentry) needs no landing pad.
 *
 * The current G lives in the initial-exec TLS variable grt_tls_g: its
 * offset from TPIDR_EL0 comes from the GOT (:gottprel:), as gcc emits for
 * initial-exec in a shared library; it never allocates.
 *
 * Branch protection: every routine starts with a `bti c` landing pad
 * (hint #34: a no-op before Armv8.5), indirect tail calls go through x16
 * (which `bti c` admits), and the object carries the GNU property note
 * that says so when the compiler builds for BTI/PAC
 * (-mbranch-protection=standard), so linking it never turns BTI off for
 * the library.  These routines sign nothing: the return addresses they
 * store and load are their callers' unsigned x30 values.
 */
#include "runtime/runtime.h" /* G_M, M_G0, M_TRANS, TRANS_*; GCTX_* come from arch.h */

/* reg = &grt_tls_g (tmp is clobbered) */
.macro TLS_G_ADDR reg, tmp
        mrs     \reg, tpidr_el0
        adrp    \tmp, :gottprel:grt_tls_g
        ldr     \tmp, [\tmp, #:gottprel_lo12:grt_tls_g]
        add     \reg, \reg, \tmp
.endm

#define BTI_C hint #34

/* The frame of a routine that runs a function on another stack and comes
 * back (sched_systemstack and the trampolines): the record {x29, x30}, with
 * x19 and x20 saved above it, 32 bytes, and their CFI. */
.macro FRAME_ENTER
        stp     x29, x30, [sp, #-32]!
        .cfi_def_cfa_offset 32
        .cfi_offset x29, -32
        .cfi_offset x30, -24
        mov     x29, sp
        .cfi_def_cfa_register x29
        stp     x19, x20, [sp, #16]
        .cfi_offset x19, -16
        .cfi_offset x20, -8
.endm

/* Their second half, once TLS g, FP and SP name the other stack: calls
 * fn = x0 with arg = x1 (4. PC), its return address undefined for
 * unwinders (the callee's segment ends at this call), then switches back
 * in the same order: 1. TLS g = x19, 2. FP and 3. SP = x20 (our frame
 * record, FRAME_ENTER's), and returns fn's result (4. PC).  t1 and t2:
 * scratch registers for the TLS address. */
.macro CALL_AND_BACK t1, t2
        mov     x9, x0
        mov     x0, x1
        .cfi_remember_state
        .cfi_undefined x30
        blr     x9
        .cfi_restore_state
        TLS_G_ADDR \t1, \t2
        str     x19, [\t1]
        mov     x29, x20
        mov     sp, x20
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        .cfi_def_cfa sp, 0
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x29
        .cfi_restore x30
        ret
.endm

        .text

/*
 * void sched_gogo(struct g *gp)  -- resume gp from gp->ctx; never returns.
 * Called on g0.  gp->ctx holds either the state saved by sched_mcall (the
 * G then returns from its mcall) or a fresh frame pointing at sched_goentry.
 */
        .globl  sched_gogo
        .hidden sched_gogo
        .type   sched_gogo, %function
        .p2align 4
sched_gogo:
        .cfi_startproc
        BTI_C
        TLS_G_ADDR x1, x2
        str     x0, [x1]                       /* 1. TLS g = gp */
        ldp     x19, x20, [x0, #GCTX_X19]
        ldp     x21, x22, [x0, #GCTX_X21]
        ldp     x23, x24, [x0, #GCTX_X23]
        ldp     x25, x26, [x0, #GCTX_X25]
        ldp     x27, x28, [x0, #GCTX_X27]
        ldp     d8, d9, [x0, #GCTX_D8]
        ldp     d10, d11, [x0, #GCTX_D10]
        ldp     d12, d13, [x0, #GCTX_D12]
        ldp     d14, d15, [x0, #GCTX_D14]
        ldr     x30, [x0, #GCTX_PC]
        ldr     x2, [x0, #GCTX_SP]
        ldr     x29, [x0, #GCTX_FP]            /* 2. FP */
        mov     sp, x2                         /* 3. SP */
        ret                                    /* 4. PC, last */
        .cfi_endproc
sched_gogo_end:
        .size   sched_gogo, .-sched_gogo
        .globl  sched_gogo_end
        .hidden sched_gogo_end

/*
 * void sched_mcall(void (*fn)(struct g *))  -- save the current G, switch
 * to its M's g0 and call fn(gp) there.  fn must not return; the G resumes
 * (as a return from sched_mcall, pc = our x30, sp = our sp) when someone
 * calls sched_gogo(gp).  g0 starts at g0->ctx.sp each time.
 */
        .globl  sched_mcall
        .hidden sched_mcall
        .type   sched_mcall, %function
        .p2align 4
sched_mcall:
        .cfi_startproc
        BTI_C
        TLS_G_ADDR x1, x2
        ldr     x3, [x1]                       /* x3 = gp */
        str     x30, [x3, #GCTX_PC]            /* save as if we had returned */
        mov     x4, sp
        str     x4, [x3, #GCTX_SP]
        str     x29, [x3, #GCTX_FP]
        stp     x19, x20, [x3, #GCTX_X19]
        stp     x21, x22, [x3, #GCTX_X21]
        stp     x23, x24, [x3, #GCTX_X23]
        stp     x25, x26, [x3, #GCTX_X25]
        stp     x27, x28, [x3, #GCTX_X27]
        stp     d8, d9, [x3, #GCTX_D8]
        stp     d10, d11, [x3, #GCTX_D10]
        stp     d12, d13, [x3, #GCTX_D12]
        stp     d14, d15, [x3, #GCTX_D14]
        ldr     x4, [x3, #G_M]
        ldr     x5, [x4, #M_G0]                /* x5 = g0 */
        str     x5, [x1]                       /* 1. TLS g = g0 */
        mov     x29, #0                        /* 2. FP = 0: g0 walks end here */
        ldr     x6, [x5, #GCTX_SP]
        mov     sp, x6                         /* 3. SP = top of g0 */
        mov     x9, x0
        mov     x0, x3
        .cfi_undefined x30                     /* g0's walks end at this call */
        blr     x9                             /* 4. PC: fn(gp) */
        brk     #1                             /* fn returned: broken runtime */
        .cfi_endproc
sched_mcall_end:
        .size   sched_mcall, .-sched_mcall
        .globl  sched_mcall_end
        .hidden sched_mcall_end

/*
 * void sched_switch(struct g *from, struct g *to, void (*post)(struct g *))
 * -- from one G straight to another, without g0 (a park whose successor is
 * this P's runnext: sched.c, sched_park).  The same contract as x86-64's:
 * saves from as sched_mcall does; moves to to's stack; calls post(from)
 * there, on a frame record {to's x29, to's pc} built below to's saved SP,
 * so a walk from inside post goes on through to's own frames; then resumes
 * to as sched_gogo does (x30 = to's pc, ret).  The caller has set to->m
 * and m->curg = to; to has run before (its pc returns into a frame).
 * AAPCS64 has no red zone, but to's stack below its saved SP is dead: to
 * is parked at a call.
 */
        .globl  sched_switch
        .hidden sched_switch
        .type   sched_switch, %function
        .p2align 4
sched_switch:
        .cfi_startproc
        BTI_C
        str     x30, [x0, #GCTX_PC]            /* save from as if we had returned */
        mov     x4, sp
        str     x4, [x0, #GCTX_SP]
        str     x29, [x0, #GCTX_FP]
        stp     x19, x20, [x0, #GCTX_X19]
        stp     x21, x22, [x0, #GCTX_X21]
        stp     x23, x24, [x0, #GCTX_X23]
        stp     x25, x26, [x0, #GCTX_X25]
        stp     x27, x28, [x0, #GCTX_X27]
        stp     d8, d9, [x0, #GCTX_D8]
        stp     d10, d11, [x0, #GCTX_D10]
        stp     d12, d13, [x0, #GCTX_D12]
        stp     d14, d15, [x0, #GCTX_D14]
        mov     x19, x1                        /* x19 = to, kept across post */
        ldr     x4, [x1, #GCTX_SP]             /* x4 = to's SP (16-aligned) */
        ldr     x5, [x1, #GCTX_FP]
        ldr     x6, [x1, #GCTX_PC]
        stp     x5, x6, [x4, #-16]             /* a frame record below it: to's x29, pc */
        TLS_G_ADDR x7, x8
        str     x1, [x7]                       /* 1. TLS g = to */
        sub     x29, x4, #16                   /* 2. FP = that record */
        mov     sp, x29                        /* 3. SP = to's stack, 16-aligned */
        .cfi_def_cfa x29, 16                   /* a frame called from to's pc; */
        .cfi_offset x29, -16                   /* to's other callee-saved registers */
        .cfi_offset x30, -8                    /* are in its context, not in them */
        .cfi_undefined x19
        .cfi_undefined x20
        .cfi_undefined x21
        .cfi_undefined x22
        .cfi_undefined x23
        .cfi_undefined x24
        .cfi_undefined x25
        .cfi_undefined x26
        .cfi_undefined x27
        .cfi_undefined x28
        blr     x2                             /* 4. PC: post(from), on to's stack */
        ldp     x20, x21, [x19, #GCTX_X19 + 8] /* resume to (TLS g is to already) */
        ldp     x22, x23, [x19, #GCTX_X21 + 8]
        ldp     x24, x25, [x19, #GCTX_X23 + 8]
        ldp     x26, x27, [x19, #GCTX_X25 + 8]
        ldr     x28, [x19, #GCTX_X27 + 8]
        ldp     d8, d9, [x19, #GCTX_D8]
        ldp     d10, d11, [x19, #GCTX_D10]
        ldp     d12, d13, [x19, #GCTX_D12]
        ldp     d14, d15, [x19, #GCTX_D14]
        ldr     x30, [x19, #GCTX_PC]
        ldr     x29, [x19, #GCTX_FP]           /* 2. FP */
        .cfi_def_cfa sp, 16
        .cfi_same_value x29
        .cfi_same_value x30
        add     sp, sp, #16                    /* 3. SP = to's SP */
        .cfi_def_cfa sp, 0
        ldr     x19, [x19, #GCTX_X19]
        .cfi_same_value x19
        ret                                    /* 4. PC, last */
        .cfi_endproc
sched_switch_end:
        .size   sched_switch, .-sched_switch
        .globl  sched_switch_end
        .hidden sched_switch_end

/*
 * void sched_systemstack(void (*fn)(void *), void *arg)  -- run fn(arg) on
 * g0 and come back.  On g0 already, it is a plain (tail) call.
 */
        .globl  sched_systemstack
        .hidden sched_systemstack
        .type   sched_systemstack, %function
        .p2align 4
sched_systemstack:
        .cfi_startproc
        BTI_C
        TLS_G_ADDR x2, x3
        ldr     x3, [x2]                       /* x3 = g */
        cbz     x3, 1f                         /* foreign thread: plain call */
        ldr     x4, [x3, #G_M]
        cbz     x4, 1f
        ldr     x5, [x4, #M_G0]                /* x5 = g0 */
        cmp     x3, x5
        b.ne    2f
1:      mov     x16, x0                        /* already on g0: tail call */
        mov     x0, x1                         /* (x16: what `bti c` admits) */
        br      x16
2:      FRAME_ENTER
        mov     x19, x3                        /* x19 = gp (callee-saved) */
        mov     x20, sp                        /* x20 = gp's SP (our frame record) */
        str     x5, [x2]                       /* 1. TLS g = g0 */
        mov     x29, #0                        /* 2. FP = 0 */
        ldr     x6, [x5, #GCTX_SP]
        mov     sp, x6                         /* 3. SP = top of g0 */
        CALL_AND_BACK x2, x3 /* 4. PC: fn(arg); back: 1-4 */
        .cfi_endproc
sched_systemstack_end:
        .size   sched_systemstack, .-sched_systemstack
        .globl  sched_systemstack_end
        .hidden sched_systemstack_end

/*
 * sched_goentry  -- the bottom frame of every goroutine.  sched_gogo
 * returns here on a fresh stack with x19 = gp.  x29 = 0 and x30 = 0, so
 * every frame-pointer walk of a goroutine ends at sched_gostart's frame
 * record {0, here}; the return address it leaves stays inside this
 * routine, and CFI marks the end of the stack (x30 undefined).
 */
        .globl  sched_goentry
        .hidden sched_goentry
        .type   sched_goentry, %function
        .p2align 4
sched_goentry:
        .cfi_startproc
        .cfi_undefined x30
        BTI_C
        mov     x29, #0
        mov     x30, #0
        mov     x0, x19
        bl      sched_gostart                  /* never returns */
        brk     #1
        .cfi_endproc
sched_goentry_end:
        .size   sched_goentry, .-sched_goentry
        .globl  sched_goentry_end
        .hidden sched_goentry_end

/*
 * void *sched_extcall_tramp(fn, arg, struct transition *rec, struct m *mp)
 * -- called on a G's stack by grt_extcall: run external fn(arg) on g0.
 * Before the switch it stores the G's lowest SP and its caller's frame
 * (grt_extcall's return address, frame pointer and SP after our return)
 * in rec, then publishes rec as mp->trans with a release store (stlr), so
 * the record is complete before anyone can see it.  External code starts
 * at g0->ctx.sp, which a callback lowers below the external frames it
 * interrupts.
 */
        .globl  sched_extcall_tramp
        .hidden sched_extcall_tramp
        .type   sched_extcall_tramp, %function
        .p2align 4
sched_extcall_tramp:
        .cfi_startproc
        BTI_C
        FRAME_ENTER
        TLS_G_ADDR x4, x5
        ldr     x19, [x4]                      /* x19 = gp */
        mov     x20, sp                        /* x20 = gp's SP */
        str     x20, [x2, #TRANS_SP]           /* rec->sp: lowest G address in use */
        ldr     x5, [x29, #8]
        str     x5, [x2, #TRANS_PC]            /* rec->pc: return into grt_extcall */
        ldr     x5, [x29]
        str     x5, [x2, #TRANS_FP]            /* rec->fp: grt_extcall's frame */
        add     x5, x29, #32
        str     x5, [x2, #TRANS_CFA]           /* rec->cfa: grt_extcall's SP after our return */
        add     x5, x3, #M_TRANS
        stlr    x2, [x5]                       /* publish rec, complete (release) */
        ldr     x6, [x3, #M_G0]                /* x6 = g0 */
        str     x6, [x4]                       /* 1. TLS g = g0 */
        mov     x29, #0                        /* 2. FP = 0: the g0 segment ends here */
        ldr     x7, [x6, #GCTX_SP]
        mov     sp, x7                         /* 3. SP = g0's free top */
        CALL_AND_BACK x4, x5 /* 4. PC: fn(arg); back: 1-4 */
        .cfi_endproc
sched_extcall_tramp_end:
        .size   sched_extcall_tramp, .-sched_extcall_tramp
        .globl  sched_extcall_tramp_end
        .hidden sched_extcall_tramp_end

/*
 * void *sched_callback_tramp(fn, arg, struct g *gp, uintptr_t sp)
 * -- called on g0 (from external code) by grt_callback: run goroutine
 * code fn(arg) on gp's stack starting at sp (16-aligned), and come back.
 * The caller has published the CALLBACK record already, and restores
 * g0->ctx.sp (lowered here) after we return.
 */
        .globl  sched_callback_tramp
        .hidden sched_callback_tramp
        .type   sched_callback_tramp, %function
        .p2align 4
sched_callback_tramp:
        .cfi_startproc
        BTI_C
        FRAME_ENTER
        TLS_G_ADDR x4, x5
        ldr     x19, [x4]                      /* x19 = g0 */
        mov     x20, sp                        /* x20 = g0's SP */
        sub     x5, x20, #64                   /* g0 work inside the callback (park, */
        and     x5, x5, #-16                   /* schedule) starts below this frame, */
        str     x5, [x19, #GCTX_SP]            /* not on top of the external frames */
        str     x2, [x4]                       /* 1. TLS g = gp */
        mov     x29, #0                        /* 2. FP = 0: the G segment ends here */
        mov     sp, x3                         /* 3. SP = gp's stack */
        CALL_AND_BACK x4, x5 /* 4. PC: fn(arg); back: 1-4 */
        .cfi_endproc
sched_callback_tramp_end:
        .size   sched_callback_tramp, .-sched_callback_tramp
        .globl  sched_callback_tramp_end
        .hidden sched_callback_tramp_end

        .section .note.GNU-stack,"",%progbits

/* The GNU property note: this object is BTI- and PAC-clean, as the
 * compiler's own objects say under -mbranch-protection (else the linker
 * would mark the whole library as not BTI-compatible). */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#define GNU_PROPERTY_AARCH64_FEATURE_1_AND 0xc0000000
#define GRT_FEATURE_BTI 1
#define GRT_FEATURE_PAC 2
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define GRT_BTI_BIT GRT_FEATURE_BTI
#else
#define GRT_BTI_BIT 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define GRT_PAC_BIT GRT_FEATURE_PAC
#else
#define GRT_PAC_BIT 0
#endif
        .section .note.gnu.property, "a"
        .p2align 3
        .word   4                              /* name size ("GNU\0") */
        .word   16                             /* descriptor size */
        .word   5                              /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .word   GNU_PROPERTY_AARCH64_FEATURE_1_AND
        .word   4                              /* pr_datasz */
        .word   (GRT_BTI_BIT | GRT_PAC_BIT)
        .word   0                              /* pad to 8 */
#endif
