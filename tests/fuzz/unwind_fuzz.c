/*
 * unwind_fuzz.c - a fuzz target for the one stack walker (base/unwind.h,
 * issue 11, test 5): random registers and random stack bytes given to
 * unw_walk, with the real tables of every loaded object published.
 *
 * The segment is a heap buffer of exactly the input's stack bytes, [lo,
 * hi), so AddressSanitizer catches any byte read past it; the reader
 * aborts on any word not wholly inside [lo, hi) (or unaligned) before it
 * reads.  The emitter counts return addresses and aborts past
 * (hi - lo) / 8 + 1 of them: every step raises SP, so every walk ends
 * within that many.
 *
 * The input: a flags byte (leaf or return address; where pc, sp and fp
 * come from; a reader that fails at its n-th read; an emitter that fills;
 * lo's misalignment), three 8-byte selectors for pc, sp and fp, then the
 * stack bytes.  So that random bytes reach deep walks, a stack word whose
 * top byte is 0xAA becomes a pointer near the segment (lo - 32 + low bits
 * % (size + 64), mostly 8-aligned), and one whose top byte is 0xBB a code
 * address: a row of the published tables (low 24 bits pick it) plus a
 * small delta (the next byte, signed): a return address is a row's
 * start + 1.
 *
 * Two ways to run it:
 *  - libFuzzer (clang -fsanitize=fuzzer,address): tests/fuzz/unwind_fuzz.sh
 *    builds it and runs it briefly (ctest unwind_fuzz; skipped without
 *    clang's libFuzzer).  Longer, by hand, from the source tree:
 *      sh tests/fuzz/unwind_fuzz.sh . /tmp/uf 3600    # an hour
 *    or build it once and run it as long as wanted, with a corpus:
 *      clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *        -Isrc/arch/x86_64 tests/fuzz/unwind_fuzz.c src/base/unwtab.c \
 *        src/base/unwind.c src/base/hash.c src/base/lock.c -o /tmp/uf/fuzz
 *      mkdir -p /tmp/uf/corpus && /tmp/uf/fuzz -jobs=2 /tmp/uf/corpus
 *    A crash leaves crash-<sha1>: rerun it with /tmp/uf/fuzz crash-<sha1>.
 *  - Without libFuzzer (-DUNWIND_FUZZ_MAIN; ctest unit_unwind_fuzz, built
 *    by CMake with the project's compiler, under ASan in the ASan build):
 *    a fixed PRNG makes the inputs, the same every run; `unit_unwind_fuzz
 *    N` runs N of them, `unit_unwind_fuzz FILE...` replays inputs (crash
 *    files from libFuzzer).
 */
#define _GNU_SOURCE
#include "base/unwind.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 25                /* flags, pc, sp, fp */
#define MAX_STACK (64 * 1024) /* bytes of stack used from an input */
#define SLACK 8               /* bytes before lo in the buffer (lo's misalignment) */

static uintptr_t *codes;       /* every row's start in the published tables */
static size_t ends[3], deep;   /* walks by enum unw_end; walks of 3+ frames */
static int expect_frames = -1; /* a well-formed chain's frames (-1: not known) */
static size_t ncodes;

static void fuzz_init(void) {
  if (codes) return;
  if (unw_refresh() != 0) abort();
  const struct unw_registry *r = atomic_load_explicit(&unw_tables, memory_order_acquire);
  if (!r || r->n == 0) abort();
  size_t n = 0;
  for (uint32_t i = 0; i < r->n; i++)
    n += r->mods[i]->n;
  codes = malloc(n * sizeof *codes);
  if (!codes) abort();
  for (uint32_t i = 0; i < r->n; i++)
    for (uint32_t j = 0; j < r->mods[i]->n; j++)
      codes[ncodes++] = r->mods[i]->base + r->mods[i]->off[j];
}

static uint64_t word(const uint8_t *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

static uintptr_t code_at(uint64_t sel) {
  return codes[(sel & 0xffffff) % ncodes] + (uintptr_t)(intptr_t)(int8_t)(sel >> 24);
}

/* A pointer near the segment: 8-aligned unless bits 32-33 of sel are 0. */
static uintptr_t near(uint64_t sel, uintptr_t lo, size_t size) {
  uintptr_t p = lo - 32 + (uintptr_t)((sel & 0xffffffff) % (size + 64));
  return (sel >> 32) & 3 ? p & ~(uintptr_t)7 : p;
}

struct reader {
  uintptr_t lo, hi;
  unsigned reads, fail_at; /* fail_at: the read that fails (0: none) */
};

static bool fuzz_read(void *p, uintptr_t addr, uintptr_t *w) {
  struct reader *rd = p;
  if ((addr & 7) || addr < rd->lo || addr > rd->hi || rd->hi - addr < 8) {
    fprintf(stderr, "unwind_fuzz: read of %#lx outside [%#lx, %#lx) or unaligned\n",
            (unsigned long)addr, (unsigned long)rd->lo, (unsigned long)rd->hi);
    abort();
  }
  if (++rd->reads == rd->fail_at) return false;
  memcpy(w, (const void *)addr, 8);
  return true;
}

struct emitter {
  size_t n, max, room; /* room: the emitter fills after this many (0: never) */
};

static bool fuzz_emit(void *p, uintptr_t ret) {
  struct emitter *e = p;
  (void)ret;
  if (++e->n > e->max) {
    fprintf(stderr, "unwind_fuzz: %zu return addresses, more than %zu: a walk that does not end\n",
            e->n, e->max);
    abort();
  }
  return e->room == 0 || e->n < e->room;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  fuzz_init();
  if (len < HDR) return 0;
  uint8_t flags = data[0];
  uint64_t psel = word(data + 1), ssel = word(data + 9), fsel = word(data + 17);
  size_t size = len - HDR < MAX_STACK ? len - HDR : MAX_STACK;
  const uint8_t *in = data + HDR;

  /* The segment: exactly size bytes after SLACK, lo misaligned by 0..7. */
  unsigned shift = (flags >> 5) & 7;
  uint8_t *buf = malloc(SLACK + size + 1);
  if (!buf) abort();
  memset(buf, 0x5a, SLACK);
  uintptr_t lo = (uintptr_t)buf + shift, hi = lo + size;
  uint8_t *stack = (uint8_t *)lo;
  memcpy(stack, in, size);
  /* Tagged words, at the segment's 8-aligned addresses. */
  for (uintptr_t a = (lo + 7) & ~(uintptr_t)7; a + 8 <= hi; a += 8) {
    uint64_t w = word((const uint8_t *)a);
    if ((w >> 56) == 0xAA) {
      w = near(w, lo, size);
      memcpy((void *)a, &w, 8);
    } else if ((w >> 56) == 0xBB) {
      w = code_at(w);
      memcpy((void *)a, &w, 8);
    }
  }
  /* A heap buffer: reads past hi hit ASan's redzone (one byte is
   * allocated past hi, so a size of 0 still has a valid lo). */

  struct unw_regs r;
  r.pc = (flags & 2) ? (uintptr_t)psel : code_at(psel);
  r.sp = (flags & 4) ? (uintptr_t)ssel : near(ssel, lo, size);
  r.fp = (flags & 8) ? (uintptr_t)fsel : (flags & 16) ? 0 : near(fsel, lo, size);
  r.lr = 0; /* x86-64: no link register; aarch64: LR0 only at the leaf */
  bool leaf = flags & 1;

  struct reader rd = {
      .lo = lo, .hi = hi, .fail_at = (psel >> 40) % 64 == 0 ? (ssel >> 40) % 16 : 0};
  struct emitter em = {.max = size / 8 + 1, .room = (fsel >> 40) % 32 == 0 ? (fsel >> 48) % 8 : 0};
  uintptr_t top = 0;
  enum unw_end end = unw_walk(r, leaf, lo, hi, fuzz_read, &rd, fuzz_emit, &em, &top);
  if (end != UNW_END_BASE && end != UNW_END_BROKEN && end != UNW_END_FULL) abort();
  ends[end]++;
  deep += em.n >= 3;
  if (expect_frames >= 0 && (end != UNW_END_BASE || em.n != (size_t)expect_frames)) {
    fprintf(stderr, "unwind_fuzz: a well-formed chain of %d frames: %zu frames, end %d\n",
            expect_frames, em.n, (int)end);
    abort();
  }
  if (end == UNW_END_FULL && (em.room == 0 || em.n != em.room)) abort();
  /* Each emitted frame's SP is a CFA checked against hi. */
  if (em.n > 0 && top > hi) abort();
  free(buf);
  return 0;
}

#ifdef UNWIND_FUZZ_MAIN
/* ---- without libFuzzer: a fixed PRNG, or inputs from files ---- */

static uint64_t prng = 0x9e3779b97f4a7c15u;

static uint64_t next(void) { /* splitmix64 */
  uint64_t z = (prng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* The index in codes of a random row whose rule is kind (a return
 * address there finds it: codes[j] + 1, looked up at codes[j]). */
static long pick(int kind) {
  static long *of[UNW_INVALID + 1];
  static size_t n[UNW_INVALID + 1];
  if (!of[UNW_SP]) {
    for (int k = 0; k <= UNW_INVALID; k++)
      if (!(of[k] = malloc(ncodes * sizeof *of[k]))) abort();
    for (size_t j = 0; j < ncodes; j++) {
      const struct unw_rule *r = unw_find(codes[j]);
      if (r && (r->kind != UNW_SP || r->ra_off == -8)) of[r->kind][n[r->kind]++] = (long)j;
    }
  }
  return n[kind] ? of[kind][next() % n[kind]] : -1;
}

static void put(uint8_t *p, uint64_t w) {
  memcpy(p, &w, 8);
}

/* An input whose stack is a well-formed chain of frames, as compiled code
 * leaves it: return addresses into rows with SP rules, saved FPs where the
 * rules say, and a last return address into a STOP row (a thread's entry),
 * so the walk ends at the base after exactly as many return addresses as
 * the chain holds (expect_frames).  Registers and pointers into the stack
 * go through the tags (lo is 16-aligned: flags' shift is 0). */
static size_t chain(uint8_t *data, size_t cap) {
  size_t size = 256 + next() % (cap - HDR - 256);
  size &= ~(size_t)7;
  memset(data, 0, HDR + size);
  for (size_t k = 0; k < size; k += 8)
    put(data + HDR + k, next() & 0x00ffffffffffffffu); /* untagged junk between slots */
  long j = pick(UNW_SP), stop = pick(UNW_STOP);
  if (j < 0 || stop < 0) return 0;
  size_t sp = (next() % 8) * 8;
  data[0] = 0; /* a return address; pc, sp, fp through the selectors */
  put(data + 1, (uint64_t)1 << 24 | (uint64_t)j);
  put(data + 9, sp + 32);
  put(data + 17, next() % 2 ? 0x1234567 : 0);
  int frames = 0;
  for (;;) {
    const struct unw_rule *r = unw_find(codes[j]);
    size_t cfa = sp + (size_t)r->cfa_off;
    if (r->cfa_off < 8 || cfa > size) return 0;
    bool last = cfa + 512 > size || next() % 16 == 0;
    long to = last ? stop : pick(UNW_SP);
    if (to < 0) return 0;
    put(data + HDR + cfa - 8, (uint64_t)0xBB << 56 | (uint64_t)1 << 24 | (uint64_t)to);
    if (r->fp_off != UNW_FP_SAME) {
      if ((int64_t)cfa + r->fp_off < (int64_t)sp) return 0;
      put(data + HDR + cfa + r->fp_off, next() % 2 ? 0 : (uint64_t)0xAA << 56 | (next() % size));
    }
    frames++;
    if (last) break;
    sp = cfa;
    j = to;
  }
  expect_frames = frames;
  return HDR + size;
}

static int replay(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  static uint8_t data[HDR + MAX_STACK];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  LLVMFuzzerTestOneInput(data, n);
  printf("%s: ok\n", path);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strspn(argv[1], "0123456789") != strlen(argv[1])) {
    int err = 0;
    for (int i = 1; i < argc; i++)
      err |= replay(argv[i]);
    return err;
  }
#if defined(__SANITIZE_ADDRESS__)
  long runs = 100000;
#else
  long runs = 400000;
#endif
  if (argc > 1) runs = atol(argv[1]);
  fuzz_init();
  static uint8_t data[HDR + 4096];
  long chains = 0, intact = 0;
  for (long i = 0; i < runs; i++) {
    size_t len;
    if (i % 4 == 3 && (len = chain(data, sizeof data)) > 0) {
      chains++;
      /* Half of them intact (their walk is known), half with a byte changed. */
      if (next() % 2) {
        intact++;
      } else {
        data[HDR + next() % (len - HDR)] ^= (uint8_t)(1 + next() % 255);
        expect_frames = -1;
      }
      LLVMFuzzerTestOneInput(data, len);
      expect_frames = -1;
      continue;
    }
    len = HDR + (size_t)(next() % (i % 8 == 0 ? 4096 : 512));
    for (size_t k = 0; k < len; k += 8) {
      uint64_t w = next(), kind = next() % 8;
      if (k >= HDR && kind < 3) w = (w & 0x00ffffffffffffffu) | (uint64_t)0xAA << 56;
      if (k >= HDR && kind == 3) w = (w & 0x00ffffffffffffffu) | (uint64_t)0xBB << 56;
      if (k >= HDR && kind == 4) w = 0;
      memcpy(data + k, &w, len - k < 8 ? len - k : 8);
    }
    /* Mostly segment-relative registers and table pcs, sometimes raw. */
    data[0] = (uint8_t)(next() & 0xe1);
    if (next() % 4 == 0) data[0] |= 2; /* a raw pc: mostly no table, a frame-pointer step */
    if (next() % 8 == 0) data[0] |= (uint8_t)(next() & 0x1e);
    LLVMFuzzerTestOneInput(data, len);
  }
  printf("unwind_fuzz: %ld well-formed chains (%ld intact, walked exactly)\n", chains, intact);
  printf("unwind_fuzz: %ld inputs, %zu code addresses from the tables; walks ending at a base %zu, "
         "broken %zu, full %zu; %zu of 3 frames or more: ok\n",
         runs, ncodes, ends[UNW_END_BASE], ends[UNW_END_BROKEN], ends[UNW_END_FULL], deep);
  return 0;
}
#endif
