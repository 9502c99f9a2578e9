/*
 * switch.S - every routine that writes the stack pointer (x86-64, SysV).
 *
 * These are the only places where SP moves between stacks.  The profiler
 * treats a PC inside any of them as "mid-switch" and records grt._System
 * instead of unwinding (docs/design.md, the decision table, row 2);
 * grt_switch_ranges() in sched.c
 * exports their [start, end) ranges from the *_end labels below, and a test
 * compares them with `nm -S`.
 *
 * Write order, the same in every routine: TLS g first, then FP, then SP,
 * and PC last (the jump or call).  So at every instruction outside these
 * routines, TLS g, SP and FP agree; inside them, PC alone identifies the
 * state as inconsistent.
 *
 * The current G lives in the initial-exec TLS variable grt_tls_g, addressed
 * as %fs:(grt_tls_g@gottpoff), which works in a shared library and never
 * allocates.
 */
#include "runtime/runtime.h" /* G_M, M_G0, M_TRANS, TRANS_*; GCTX_* come from arch.h */

/* The frame of a routine that runs a function on another stack and comes
 * back (sched_systemstack and the trampolines): rbp pushed and pointing at
 * itself, then rbx and r12 saved below it, with their CFI. */
.macro FRAME_ENTER
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbp, 0
        movq    %rsp, %rbp
        .cfi_def_cfa_register rbp
        pushq   %rbx
        pushq   %r12
.endm

/* Their second half, once TLS g, FP and SP name the other stack: calls
 * fn = rdi with arg = rsi (4. PC), its return address undefined for
 * unwinders (the callee's segment ends at this call), then switches back
 * in the same order: 1. TLS g = rbx, 2. FP = our frame (r12 + 16), 3. SP
 * = r12, and returns fn's result (4. PC). */
.macro CALL_AND_BACK
        movq    %rdi, %rax
        movq    %rsi, %rdi
        .cfi_remember_state
        .cfi_undefined rip
        call    *%rax
        .cfi_restore_state
        movq    grt_tls_g@gottpoff(%rip), %rcx
        movq    %rbx, %fs:(%rcx)
        leaq    16(%r12), %rbp
        movq    %r12, %rsp
        popq    %r12
        popq    %rbx
        popq    %rbp
        .cfi_def_cfa rsp, 8
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
        .type   sched_gogo, @function
        .p2align 4
sched_gogo:
        .cfi_startproc
        movq    grt_tls_g@gottpoff(%rip), %rcx
        movq    %rdi, %fs:(%rcx)               /* 1. TLS g = gp */
        movq    GCTX_RBX(%rdi), %rbx
        movq    GCTX_R12(%rdi), %r12
        movq    GCTX_R13(%rdi), %r13
        movq    GCTX_R14(%rdi), %r14
        movq    GCTX_R15(%rdi), %r15
        movq    GCTX_FP(%rdi), %rbp            /* 2. FP */
        movq    GCTX_SP(%rdi), %rsp            /* 3. SP */
        jmp     *GCTX_PC(%rdi)                 /* 4. PC, last */
        .cfi_endproc
sched_gogo_end:
        .size   sched_gogo, .-sched_gogo
        .globl  sched_gogo_end
        .hidden sched_gogo_end

/*
 * void sched_mcall(void (*fn)(struct g *))  -- save the current G, switch
 * to its M's g0 and call fn(gp) there.  fn must not return; the G resumes
 * (as a return from sched_mcall) when someone calls sched_gogo(gp).
 * g0 starts at g0->ctx.sp each time: nothing on g0 survives a switch.
 */
        .globl  sched_mcall
        .hidden sched_mcall
        .type   sched_mcall, @function
        .p2align 4
sched_mcall:
        .cfi_startproc
        movq    grt_tls_g@gottpoff(%rip), %rcx
        movq    %fs:(%rcx), %rax               /* rax = gp */
        movq    (%rsp), %rdx                   /* save as if we had returned */
        movq    %rdx, GCTX_PC(%rax)
        leaq    8(%rsp), %rdx
        movq    %rdx, GCTX_SP(%rax)
        movq    %rbp, GCTX_FP(%rax)
        movq    %rbx, GCTX_RBX(%rax)
        movq    %r12, GCTX_R12(%rax)
        movq    %r13, GCTX_R13(%rax)
        movq    %r14, GCTX_R14(%rax)
        movq    %r15, GCTX_R15(%rax)
        movq    G_M(%rax), %rdx
        movq    M_G0(%rdx), %rsi               /* rsi = g0 */
        movq    %rsi, %fs:(%rcx)               /* 1. TLS g = g0 */
        xorl    %ebp, %ebp                     /* 2. FP = 0: g0 walks end here */
        movq    GCTX_SP(%rsi), %rsp            /* 3. SP = top of g0 */
        movq    %rdi, %r8
        movq    %rax, %rdi
        .cfi_undefined rip                     /* g0's walks end at this call */
        call    *%r8                           /* 4. PC: fn(gp) */
        ud2                                    /* fn returned: broken runtime */
        .cfi_endproc
sched_mcall_end:
        .size   sched_mcall, .-sched_mcall
        .globl  sched_mcall_end
        .hidden sched_mcall_end

/*
 * void sched_switch(struct g *from, struct g *to, void (*post)(struct g *))
 * -- from one G straight to another, without g0 (a park whose successor is
 * this P's runnext: sched.c, sched_park).  Saves from, the running G, as
 * sched_mcall does; moves to to's stack; calls post(from) there; then
 * resumes to as sched_gogo does.  post runs once from's stack is no longer
 * in use, where a park's commit on g0 would run (it releases the lock a
 * waker needs to find from).  Its frame sits on a frame built below to's
 * saved SP that reads as a call from to's saved pc with to's saved FP, so
 * a walk from inside post goes on through to's own frames to its entry,
 * as any goroutine's does.  The caller has set to->m and m->curg = to (so
 * TLS g == m->curg once TLS g is to).  to must have run before: its saved
 * pc returns into a frame (not sched_goentry's fresh start).
 *
 * to resumes by a `ret`, not a jump: it popped the return address that
 * the frame below holds (to's saved pc), and when to parked at the same
 * call site as from (a ping-pong), the return-stack predicts it, and the
 * return from the caller after it.
 */
        .globl  sched_switch
        .hidden sched_switch
        .type   sched_switch, @function
        .p2align 4
sched_switch:
        .cfi_startproc
        movq    (%rsp), %rax                   /* save from as if we had returned */
        movq    %rax, GCTX_PC(%rdi)
        leaq    8(%rsp), %rax
        movq    %rax, GCTX_SP(%rdi)
        movq    %rbp, GCTX_FP(%rdi)
        movq    %rbx, GCTX_RBX(%rdi)
        movq    %r12, GCTX_R12(%rdi)
        movq    %r13, GCTX_R13(%rdi)
        movq    %r14, GCTX_R14(%rdi)
        movq    %r15, GCTX_R15(%rdi)
        movq    %rsi, %rbx                     /* rbx = to, kept across post */
        movq    GCTX_SP(%rsi), %rax            /* rax = to's SP (16-aligned) */
        movq    GCTX_PC(%rsi), %rcx
        movq    %rcx, -8(%rax)                 /* a frame below it: to's pc ... */
        movq    GCTX_FP(%rsi), %rcx
        movq    %rcx, -16(%rax)                /* ... and to's FP */
        movq    grt_tls_g@gottpoff(%rip), %rcx
        movq    %rsi, %fs:(%rcx)               /* 1. TLS g = to */
        leaq    -16(%rax), %rbp                /* 2. FP = that frame */
        movq    %rbp, %rsp                     /* 3. SP = to's stack, 16-aligned */
        .cfi_def_cfa rbp, 16                   /* a frame called from to's pc; */
        .cfi_offset rbp, -16                   /* to's other callee-saved registers */
        .cfi_undefined rbx                     /* are in its context, not in them */
        .cfi_undefined r12
        .cfi_undefined r13
        .cfi_undefined r14
        .cfi_undefined r15
        call    *%rdx                          /* 4. PC: post(from), on to's stack */
        movq    GCTX_R12(%rbx), %r12           /* resume to (TLS g is to already) */
        movq    GCTX_R13(%rbx), %r13
        movq    GCTX_R14(%rbx), %r14
        movq    GCTX_R15(%rbx), %r15
        movq    GCTX_FP(%rbx), %rbp            /* 2. FP */
        .cfi_def_cfa rsp, 16
        .cfi_same_value rbp
        movq    GCTX_RBX(%rbx), %rbx
        .cfi_same_value rbx
        .cfi_same_value r12
        .cfi_same_value r13
        .cfi_same_value r14
        .cfi_same_value r15
        addq    $8, %rsp                       /* 3. SP: to's pc on top */
        .cfi_def_cfa rsp, 8
        ret                                    /* 4. PC, last: pops it; SP = to's SP */
        .cfi_endproc
sched_switch_end:
        .size   sched_switch, .-sched_switch
        .globl  sched_switch_end
        .hidden sched_switch_end

/*
 * void sched_systemstack(void (*fn)(void *), void *arg)  -- run fn(arg) on
 * g0 and come back.  On g0 already, it is a plain call.
 */
        .globl  sched_systemstack
        .hidden sched_systemstack
        .type   sched_systemstack, @function
        .p2align 4
sched_systemstack:
        .cfi_startproc
        movq    grt_tls_g@gottpoff(%rip), %rcx
        movq    %fs:(%rcx), %rax               /* rax = g */
        testq   %rax, %rax
        jz      1f                             /* foreign thread: plain call */
        movq    G_M(%rax), %rdx
        testq   %rdx, %rdx
        jz      1f
        movq    M_G0(%rdx), %r8                /* r8 = g0 */
        cmpq    %rax, %r8
        jne     2f
1:      movq    %rdi, %rax                     /* already on g0: tail call */
        movq    %rsi, %rdi
        jmp     *%rax
2:      FRAME_ENTER
        movq    %rax, %rbx                     /* rbx = gp (callee-saved) */
        movq    %rsp, %r12                     /* r12 = gp's SP */
        movq    %r8, %fs:(%rcx)                /* 1. TLS g = g0 */
        xorl    %ebp, %ebp                     /* 2. FP = 0 */
        movq    GCTX_SP(%r8), %rsp             /* 3. SP = top of g0 */
        CALL_AND_BACK                          /* 4. PC: fn(arg); back: 1-4 */
        .cfi_endproc
sched_systemstack_end:
        .size   sched_systemstack, .-sched_systemstack
        .globl  sched_systemstack_end
        .hidden sched_systemstack_end

/*
 * sched_goentry  -- the bottom frame of every goroutine.  sched_gogo jumps
 * here on a fresh stack with r12 = gp.  FP is 0, so every frame-pointer
 * walk of a goroutine ends at sched_gostart's saved FP of 0.  The return
 * address it pushes stays inside this routine, and CFI marks the end of
 * the stack for debuggers.
 */
        .globl  sched_goentry
        .hidden sched_goentry
        .type   sched_goentry, @function
        .p2align 4
sched_goentry:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        movq    %r12, %rdi
        call    sched_gostart                  /* never returns */
        ud2
        .cfi_endproc
sched_goentry_end:
        .size   sched_goentry, .-sched_goentry
        .globl  sched_goentry_end
        .hidden sched_goentry_end

/*
 * void *sched_extcall_tramp(fn, arg, struct transition *rec, struct m *mp)
 * -- called on a G's stack by grt_extcall: run external fn(arg) on g0.
 * Before the switch it stores the G's lowest SP and its caller's frame
 * (grt_extcall's return address and frame pointer) in rec, then publishes
 * rec as mp->trans (x86 stores are release stores), so the record is
 * complete before anyone can see it, and the profiler's walk of the
 * goroutine segment starts at grt_extcall itself.  External code starts at g0->ctx.sp,
 * which a callback lowers below the external frames it interrupts.
 */
        .globl  sched_extcall_tramp
        .hidden sched_extcall_tramp
        .type   sched_extcall_tramp, @function
        .p2align 4
sched_extcall_tramp:
        .cfi_startproc
        FRAME_ENTER
        movq    grt_tls_g@gottpoff(%rip), %rax
        movq    %fs:(%rax), %rbx               /* rbx = gp */
        movq    %rsp, %r12                     /* r12 = gp's SP */
        movq    %rsp, TRANS_SP(%rdx)           /* rec->sp: lowest G address in use */
        movq    8(%rbp), %r8
        movq    %r8, TRANS_PC(%rdx)            /* rec->pc: return into grt_extcall */
        movq    (%rbp), %r8
        movq    %r8, TRANS_FP(%rdx)            /* rec->fp: grt_extcall's frame */
        leaq    16(%rbp), %r8
        movq    %r8, TRANS_CFA(%rdx)           /* rec->cfa: grt_extcall's SP after our return */
        movq    %rdx, M_TRANS(%rcx)            /* publish rec, complete */
        movq    M_G0(%rcx), %r8                /* r8 = g0 */
        movq    %r8, %fs:(%rax)                /* 1. TLS g = g0 */
        xorl    %ebp, %ebp                     /* 2. FP = 0: the g0 segment ends here */
        movq    GCTX_SP(%r8), %rsp             /* 3. SP = g0's free top */
        CALL_AND_BACK                          /* 4. PC: fn(arg); back: 1-4 */
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
        .type   sched_callback_tramp, @function
        .p2align 4
sched_callback_tramp:
        .cfi_startproc
        FRAME_ENTER
        movq    grt_tls_g@gottpoff(%rip), %rax
        movq    %fs:(%rax), %rbx               /* rbx = g0 */
        movq    %rsp, %r12                     /* r12 = g0's SP */
        leaq    -64(%rsp), %r8                 /* g0 work inside the callback (park, */
        andq    $-16, %r8                      /* schedule) starts below this frame, */
        movq    %r8, GCTX_SP(%rbx)             /* not on top of the external frames */
        movq    %rdx, %fs:(%rax)               /* 1. TLS g = gp */
        xorl    %ebp, %ebp                     /* 2. FP = 0: the G segment ends here */
        movq    %rcx, %rsp                     /* 3. SP = gp's stack */
        CALL_AND_BACK                          /* 4. PC: fn(arg); back: 1-4 */
        .cfi_endproc
sched_callback_tramp_end:
        .size   sched_callback_tramp, .-sched_callback_tramp
        .globl  sched_callback_tramp_end
        .hidden sched_callback_tramp_end

        .section .note.GNU-stack,"",@progbits
