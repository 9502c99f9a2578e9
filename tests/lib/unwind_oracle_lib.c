/*
 * unwind_oracle_lib.c - code for tests/unit_unwind_oracle.c, whose CFI the
 * walker's tables must describe exactly as libdw does.  Built -O2
 * -fomit-frame-pointer (CMakeLists.txt), so the CFA moves with SP through
 * every push and pop, and with the frame shapes that make .eh_frame
 * interesting: alloca and a VLA (a frame pointer after all), a tail call,
 * a realigned stack (a 32-byte aligned local under
 * force_align_arg_pointer, and gcc's DRAP for a 64-byte aligned local next
 * to an alloca), a frame larger than 4 KiB (stack-clash probes), and plain
 * leaf and non-leaf functions.  The oracle only reads the tables; it never
 * needs to run this code, but the functions are real and callable.
 */
#include <alloca.h>
#include <stdint.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default"), noinline))

/* Keeps the compiler from seeing through a buffer. */
EXPORT void oracle_sink(void *p) {
  __asm__ volatile("" : : "r"(p) : "memory");
}

EXPORT uint64_t oracle_leaf(uint64_t x) {
  return x * 2654435761u + (x >> 7);
}

EXPORT uint64_t oracle_nonleaf(uint64_t x) {
  uint64_t a = oracle_leaf(x), b = oracle_leaf(a ^ 5);
  char buf[40];
  memset(buf, (int)a, sizeof buf);
  oracle_sink(buf);
  return a + b + (uint64_t)buf[3];
}

/* Many callee-saved registers live across calls: pushes and pops. */
EXPORT uint64_t oracle_saves(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t x = oracle_leaf(a), y = oracle_leaf(b), z = oracle_leaf(c), w = oracle_leaf(d);
  uint64_t v = oracle_leaf(x + y);
  return x * y + z * w + v + oracle_nonleaf(x ^ w);
}

EXPORT uint64_t oracle_alloca(int n) {
  char *p = alloca((size_t)n + 1);
  memset(p, n, (size_t)n + 1);
  oracle_sink(p);
  return (uint64_t)p[n / 2] + oracle_leaf((uint64_t)n);
}

EXPORT uint64_t oracle_vla(int n) {
  uint64_t v[n + 1];
  for (int i = 0; i <= n; i++)
    v[i] = oracle_leaf((uint64_t)i);
  oracle_sink(v);
  return v[n / 2];
}

/* A tail call: the jmp leaves with the caller's frame. */
EXPORT uint64_t oracle_tail(uint64_t x) {
  if (x & 1) return oracle_leaf(x + 3);
  return oracle_nonleaf(x - 1);
}

/* A realigned stack for a 32-byte aligned local: and $-32, %rsp (x86-64;
 * aarch64's SP is always 16-aligned and gcc realigns through x29). */
#ifdef __x86_64__
#define REALIGN __attribute__((force_align_arg_pointer))
#else
#define REALIGN
#endif
EXPORT REALIGN uint64_t oracle_realign(uint64_t x) {
  uint64_t v[4] __attribute__((aligned(32)));
  for (int i = 0; i < 4; i++)
    v[i] = x + (uint64_t)i;
  oracle_sink(v);
  return v[1] + oracle_leaf(v[2]);
}

/* Called from oracle_drap's body, where the test walks its stack. */
__attribute__((visibility("default"))) void (*oracle_hook)(void);

/* gcc's dynamic realignment (DRAP, through r10): an over-aligned local
 * next to an alloca; the CFA is an expression, *(rbp - n), and so is the
 * caller's rbp, *(rbp + 0). */
EXPORT uint64_t oracle_drap(int n) {
  char big[64] __attribute__((aligned(64)));
  char *p = alloca((size_t)n + 1);
  memset(p, 1, (size_t)n + 1);
  memset(big, 2, sizeof big);
  if (oracle_hook) oracle_hook();
  oracle_sink(big);
  oracle_sink(p);
  return (uint64_t)(p[0] + big[1]) + oracle_leaf((uint64_t)n);
}

/* More than a page of frame: the stack-clash probes (or one big sub). */
EXPORT uint64_t oracle_bigframe(int n) {
  char buf[12 * 1024];
  memset(buf, n, sizeof buf);
  oracle_sink(buf);
  return (uint64_t)buf[n & 1023] + oracle_leaf((uint64_t)buf[4000]);
}

/* A loop with an early return from its middle: remember/restore_state. */
EXPORT uint64_t oracle_early(const uint64_t *v, int n) {
  uint64_t s = 0;
  for (int i = 0; i < n; i++) {
    if (v[i] == 0) return s;
    s += oracle_leaf(v[i]) + oracle_nonleaf(s);
  }
  return s * 3;
}
