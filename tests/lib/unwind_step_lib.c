/*
 * unwind_step_lib.c - the middle of the call chain that
 * tests/unit_unwind_step.c single-steps: root (the test, frame pointers)
 * -> step_a -> step_b -> compress2, qsort, malloc, free (here, built
 * -O2 -fomit-frame-pointer like Debian's libraries, linked -z lazy, no
 * sanitizer, so the code is what a profiled library's is).
 *
 * Every call between these functions is to an exported (interposable)
 * function, so it goes through this library's PLT, and the first one
 * through the lazy binder.  The shapes: frameless functions with pushes
 * and a stack adjustment, an alloca (CFA from the frame pointer), a
 * realigned stack with alloca (gcc's DRAP: the CFA in r10 in the
 * prologue and epilogue, then *(FP - n)), a tail call through the PLT,
 * and a comparator called back from libc's qsort.
 */
#include <alloca.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef int (*step_cmp_fn)(const void *, const void *);

int step_cmp_lib(const void *a, const void *b);
int step_leaf(volatile unsigned char *p, int n);
int step_realign(int n);
int step_tail(int x);
int step_b(const unsigned char *in, int n, step_cmp_fn cmp);
int step_a(const unsigned char *in, int n, step_cmp_fn cmp);

/* A comparator without frame pointer, called from qsort. */
__attribute__((noinline)) int step_cmp_lib(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a * 2654435761u, y = *(const unsigned *)b * 2654435761u;
  return (x > y) - (x < y);
}

/* A frameless leaf. */
__attribute__((noinline)) int step_leaf(volatile unsigned char *p, int n) {
  int s = 0;
  for (int i = 0; i < n; i++)
    s += p[i];
  return s;
}

/* A stack realigned to 64 with a variable-size array: gcc saves the
 * incoming SP in r10 (the DRAP) and keeps the CFA at *(FP - 16). */
__attribute__((noinline)) int step_realign(int n) {
  volatile unsigned char buf[64] __attribute__((aligned(64)));
  unsigned char *v = alloca((size_t)n);
  memset(v, 3, (size_t)n);
  for (int i = 0; i < 64; i++)
    buf[i] = (unsigned char)i;
  return step_leaf(buf, 64) + step_leaf(v, n);
}

__attribute__((noinline)) int step_tail(int x) {
  return x * 3 + 1;
}

/* compress2, two qsorts (comparators here and in the test), malloc and
 * free, an alloca, and a tail call through the PLT. */
__attribute__((noinline)) int step_b(const unsigned char *in, int n, step_cmp_fn cmp) {
  uLongf dlen = compressBound((uLong)n);
  unsigned char *out = malloc(dlen);
  if (!out || compress2(out, &dlen, in, (uLong)n, 1) != Z_OK) return -1;
  unsigned *v = malloc(48 * sizeof *v);
  unsigned char *tmp = alloca((size_t)(n & 63) + 16);
  if (!v) return -1;
  for (int i = 0; i < 48; i++)
    v[i] = in[i] * 131u + (unsigned)i;
  qsort(v, 48, sizeof *v, cmp);
  qsort(v, 48, sizeof *v, step_cmp_lib);
  memcpy(tmp, out, 16);
  int r = (int)dlen + (int)v[0] + step_leaf(tmp, 16);
  free(v);
  free(out);
  return step_tail(r);
}

__attribute__((noinline)) int step_a(const unsigned char *in, int n, step_cmp_fn cmp) {
  int r = step_realign(n & 31) + 1;
  r += step_b(in, n, cmp);
  return r * 2;
}
