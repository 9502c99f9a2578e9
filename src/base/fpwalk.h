/*
 * fpwalk.h - the one frame-pointer walker.  The SIGPROF handler, goroutine
 * dumps (through process_vm_readv) and the fatal and stack-overflow paths
 * all walk frames with it; only the memory reader differs.
 *
 * The rules, every one needed for a walk that never reads outside a stack
 * and always ends:
 *   - a frame pointer is 8-aligned, at or above the SP the walk started
 *     from, and its two words [fp, fp + 16) lie inside [lo, hi);
 *   - each frame lies strictly above the previous one (min rises by 16),
 *     so a cycle or a downward link ends the walk;
 *   - a frame pointer of 0 is a segment's base (the goroutine entry frame,
 *     a switch routine's FP = 0): the walk ends there, complete;
 *   - a return address below FPWALK_MIN_PC is not one: no code is mapped
 *     in the first page.
 * The frame record is [fp] = caller's fp, [fp + 8] = return address, on
 * x86-64 and on aarch64 alike.
 *
 * Header-inline, so that in the signal handler the reader and the emitter
 * inline into one loop with no call; the walker allocates nothing, takes
 * no lock and touches only what the reader reads.
 */
#ifndef GRT_BASE_FPWALK_H
#define GRT_BASE_FPWALK_H

#include <stdbool.h>
#include <stdint.h>

#define FPWALK_MIN_PC 4096

/* Reads the frame record at addr (16 bytes) into fr.  false: unreadable. */
typedef bool (*fpwalk_read_fn)(void *rd, uintptr_t addr, uintptr_t fr[2]);
/* Takes one return address; false when there is no room for more. */
typedef bool (*fpwalk_emit_fn)(void *out, uintptr_t ret);

enum fpwalk_end {
  FPWALK_BASE,   /* reached FP 0: the segment's base, every frame seen */
  FPWALK_BROKEN, /* a frame pointer that is not one (code without frame
                    pointers used the register): the callers are unknown */
  FPWALK_FULL,   /* the emitter had no room left */
};

/* Walks from fp (the innermost frame record; sp: where the stack in use
 * begins) within [lo, hi), emitting each return address. */
__attribute__((no_sanitize_address)) static inline enum fpwalk_end
fpwalk(uintptr_t fp, uintptr_t sp, uintptr_t lo, uintptr_t hi, fpwalk_read_fn read, void *rd,
       fpwalk_emit_fn emit, void *out) {
  uintptr_t min = sp;
  while (fp != 0) {
    if ((fp & 7) || fp < min || fp < lo || hi < 16 || fp > hi - 16) return FPWALK_BROKEN;
    uintptr_t fr[2];
    if (!read(rd, fp, fr) || fr[1] < FPWALK_MIN_PC) return FPWALK_BROKEN;
    if (!emit(out, fr[1])) return FPWALK_FULL;
    min = fp + 16;
    fp = fr[0];
  }
  return FPWALK_BASE;
}

/* The reader for a stack of this thread whose bounds the caller knows:
 * fpwalk has checked [addr, addr + 16) against them already. */
__attribute__((no_sanitize_address)) static inline bool fpwalk_read_direct(void *rd, uintptr_t addr,
                                                                           uintptr_t fr[2]) {
  (void)rd;
  const uintptr_t *p = (const uintptr_t *)addr;
  fr[0] = p[0];
  fr[1] = p[1];
  return true;
}

#endif
