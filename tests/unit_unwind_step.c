/*
 * unit_unwind_step: the production walker (base/unwind.h) at every
 * instruction of a call chain, prologues, epilogues, PLT stubs and the lazy
 * binder included (issue 11, tests, item 2).
 *
 * The chain: t_root (here, frame pointers) -> step_a -> step_b (in
 * tests/lib/unwind_step_lib.c: -O2 -fomit-frame-pointer, linked -z lazy)
 * -> compress2 (zlib), qsort (libc) calling back comparators here and in
 * the library, malloc, free, an alloca, a realigned stack, a tail call.
 *
 * How: a thread sets the trap flag (EFLAGS.TF) and calls t_root.  Every
 * instruction then raises SIGTRAP; the handler (on an alternate stack,
 * where the kernel clears TF) runs unw_walk from the ucontext's registers
 * with the thread's stack bounds [sp, stack top) and keeps TF set in the
 * saved flags, until t_root returns.
 *
 * The truth: a shadow stack of return addresses.  Between two traps
 * exactly one instruction ran, the one at the previous pc; if it was a
 * call (decoded: e8, or ff /2, after prefixes) the word it pushed at SP is
 * pushed on the shadow stack with its slot's address, and any entry whose
 * slot is now below SP was popped by a return (checked: after a ret, pc is
 * the popped address).  Jumps (PLT stubs, tail calls, the binder's jump to
 * its target) change no return address, so at every instruction the walk
 * must emit exactly the shadow stack's return addresses from the innermost
 * out, then the frames above t_root (its caller's return into
 * start_thread, then clone3's: walked once from the caller's own frame
 * before stepping, and required to reach the base, clone3's undefined
 * return address) and end the same way.  Nothing is symbolized for the
 * check: addresses are compared.  (A rep-prefixed string instruction traps
 * once per iteration: memset's rep stosb is most of libc's steps.)
 *
 * A walk that ends BROKEN at an INVALID row (CFI the tables do not support,
 * such as a CFA in another register), after emitting only correct frames,
 * is not accepted silently: it is counted per region and its row printed
 * (function, offset), apart from failures, if the row is in one of two
 * places the tables are known not to follow; anything else is a failure.
 * The two: the binder (its CFA is in rbx) and everything it calls,
 * and step_realign (gcc's realigned stack: the CFA in r10 in the prologue,
 * and the frame pointer saved by a DWARF expression, which the tables do
 * not follow, in the body) and everything it calls.
 *
 * Two runs: the first binds every PLT slot lazily (so the binder
 * _dl_runtime_resolve* and _dl_fixup are stepped through; the test re-runs
 * itself if LD_BIND_NOW is set), the second runs bound code.  Each prints
 * steps per region: this program's code, the library's, PLT stubs, libz,
 * libc, the binder, the rest of ld.so, other (the sanitizer runtime).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <elf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "testutil.h"

#include "base/unwind.h"

#if !defined(__x86_64__)
int main(void) {
  puts("SKIP: single-stepping with the trap flag is x86-64 only");
  return 77;
}
#else

typedef int (*step_cmp_fn)(const void *, const void *);
int step_a(const unsigned char *in, int n, step_cmp_fn cmp);
int step_realign(int n);

/* ---- the code under test on this side (frame pointers) ---- */

__attribute__((noinline)) static int t_cmp(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return (x > y) - (x < y);
}

__attribute__((noinline)) static int t_root(const unsigned char *in, int n) {
  return step_a(in, n, t_cmp) + 1;
}

/* ---- regions, for the summary ---- */

enum { R_TEST, R_LIB, R_PLT, R_LIBZ, R_LIBC, R_BINDER, R_LDSO, R_OTHER, NREG };
static const char *const region_name[NREG] = {"test (frame pointers)",
                                              "step lib (no frame pointers)",
                                              "PLT stubs",
                                              "libz",
                                              "libc",
                                              "binder (_dl_runtime_resolve*)",
                                              "ld.so (else)",
                                              "other"};

struct range {
  uintptr_t lo, hi;
  int region;
};
#define MAXRANGES 256
static struct range ranges[MAXRANGES]; /* PLTs and the binder first: they win */
static int nranges;

static void add_range(uintptr_t lo, uintptr_t hi, int region) {
  CHECK(nranges < MAXRANGES);
  ranges[nranges++] = (struct range){lo, hi, region};
}

static int region_of(uintptr_t pc) {
  for (int i = 0; i < nranges; i++)
    if (pc >= ranges[i].lo && pc < ranges[i].hi) return ranges[i].region;
  return R_OTHER;
}

static int module_region(const char *name) {
  if (!name[0]) return R_TEST;
  if (strstr(name, "unwind_step_lib")) return R_LIB;
  if (strstr(name, "/libz.so")) return R_LIBZ;
  if (strstr(name, "/libc.so")) return R_LIBC;
  if (strstr(name, "/ld-linux")) return R_LDSO;
  return R_OTHER;
}

/* The executable sections named .plt* of the file, from its section
 * headers (not mapped: read from the file). */
static void add_plts(const char *path, uintptr_t bias) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  Elf64_Ehdr eh;
  if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && eh.e_shentsize == sizeof(Elf64_Shdr) &&
      eh.e_shnum > 0 && eh.e_shstrndx < eh.e_shnum) {
    Elf64_Shdr *sh = calloc(eh.e_shnum, sizeof *sh);
    CHECK(sh);
    size_t len = (size_t)eh.e_shnum * sizeof *sh;
    if (pread(fd, sh, len, (off_t)eh.e_shoff) == (ssize_t)len) {
      const Elf64_Shdr *st = &sh[eh.e_shstrndx];
      char *names = malloc(st->sh_size + 1);
      CHECK(names);
      if (pread(fd, names, st->sh_size, (off_t)st->sh_offset) == (ssize_t)st->sh_size) {
        names[st->sh_size] = 0;
        for (int i = 0; i < eh.e_shnum; i++)
          if ((sh[i].sh_flags & SHF_EXECINSTR) && sh[i].sh_name < st->sh_size &&
              strncmp(names + sh[i].sh_name, ".plt", 4) == 0)
            add_range(bias + sh[i].sh_addr, bias + sh[i].sh_addr + sh[i].sh_size, R_PLT);
      }
      free(names);
    }
    free(sh);
  }
  close(fd);
}

/* The lazy binder: the third word of the library's GOT (DT_PLTGOT), set by
 * ld.so for lazy binding; its extent is its FDE's in the tables. */
static uintptr_t binder_lo, binder_hi, realign_lo, realign_hi;

static void find_binder(const struct dl_phdr_info *info) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
    const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    for (; d->d_tag != DT_NULL; d++) {
      if (d->d_tag != DT_PLTGOT) continue;
      uintptr_t got = d->d_un.d_ptr;
      if (got < info->dlpi_addr) got += info->dlpi_addr; /* not relocated in place */
      binder_lo = ((const uintptr_t *)got)[2];
    }
  }
}

static int scan_module(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  (void)arg;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  if (strstr(name, "linux-vdso")) return 0;
  int region = module_region(name);
  if (region == R_LIB) find_binder(info);
  add_plts(name[0] ? name : "/proc/self/exe", info->dlpi_addr);
  return 0;
}

static int scan_text(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  (void)arg;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  int region = module_region(name);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
      add_range(info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz, region);
  }
  return 0;
}

/* The end of the FDE that covers pc: the next NONE row in its table. */
static uintptr_t fde_end(uintptr_t pc) {
  const struct unw_registry *r = atomic_load(&unw_tables);
  for (uint32_t i = 0; r && i < r->n; i++) {
    const struct unw_module *m = r->mods[i];
    if (pc < m->lo || pc >= m->hi) continue;
    for (uint32_t j = 0; j < m->n; j++)
      if (m->base + m->off[j] > pc && m->rules[m->rule[j]].kind == UNW_NONE)
        return m->base + m->off[j];
  }
  return 0;
}

static void setup_regions(void) {
  nranges = 0;
  dl_iterate_phdr(scan_module, NULL);
  CHECK(binder_lo != 0); /* the library is bound lazily: its GOT names the binder */
  binder_hi = fde_end(binder_lo);
  CHECK(binder_hi > binder_lo);
  add_range(binder_lo, binder_hi, R_BINDER);
  realign_lo = (uintptr_t)step_realign;
  realign_hi = fde_end(realign_lo);
  CHECK(realign_hi > realign_lo);
  dl_iterate_phdr(scan_text, NULL);
}

/* ---- the stepping state (one stepped thread at a time) ---- */

#define SHADOW 4096
#define MAXF 256
#define MAXFSITES 2048
#define MAXSITES 256

struct frames {
  uintptr_t f[MAXF];
  int n;
};

struct fail {
  uint64_t step;
  uintptr_t pc;
  int region, at, got_n, want_n, end;
  uintptr_t want, got;
};

/* Where walks ended at an INVALID row: the row (its pcs [lo, hi)), and
 * whether the stepped pc was in it or a return address. */
struct site {
  uintptr_t lo, hi;
  bool leaf;
  int region; /* of the stepped pc, the first time */
  uint64_t count;
};

/* A stepped pc whose walk failed: how often, and the first failure. */
struct fsite {
  uintptr_t pc;
  uint64_t count;
  struct fail first;
};

static struct { uintptr_t ret, slot; } shadow[SHADOW];
static int depth, base;
static uintptr_t prev_check_pc, prev_pc, prev_sp, stack_hi, root_pc, caller_ret;
static bool have_prev, active, done;
static uintptr_t outer[MAXF];
static int nouter, outer_end;
static uint64_t nsteps, nrepeat, steps[NREG], invalids[NREG], fails[NREG], harness_errs, overflow;
static struct fsite fsites[MAXFSITES];
static int nfsites;
static struct site sites[MAXSITES];
static int nsites;
static int max_depth;
static struct frames deepest; /* the walk at the deepest point */
static uintptr_t deepest_pc;
static struct frames walk; /* the handler's scratch */

static bool emit(void *out, uintptr_t ret) {
  struct frames *fr = out;
  if (fr->n == MAXF) return false;
  fr->f[fr->n++] = ret;
  return true;
}

enum { K_OTHER, K_CALL, K_RET };

/* What the instruction at p was: a near call (e8 rel32, ff /2) or return
 * (c3, c2 imm16), after any legacy or REX prefixes (notrack, bnd, rep). */
static int insn_kind(const uint8_t *p) {
  int i = 0;
  while (i < 14 && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0x2e || p[i] == 0x3e || p[i] == 0xf2 ||
                    p[i] == 0xf3 || (p[i] & 0xf0) == 0x40))
    i++;
  if (p[i] == 0xe8 || (p[i] == 0xff && ((p[i + 1] >> 3) & 7) == 2)) return K_CALL;
  if (p[i] == 0xc3 || p[i] == 0xc2) return K_RET;
  return K_OTHER;
}

/* The shadow stack after the instruction at prev_pc ran. */
__attribute__((no_sanitize_address)) static void track(uintptr_t pc, uintptr_t sp) {
  int kind = insn_kind((const uint8_t *)prev_pc);
  if (kind == K_CALL) {
    uintptr_t ret = *(const uintptr_t *)sp;
    if (sp != prev_sp - 8 || ret <= prev_pc || ret > prev_pc + 15 || depth == SHADOW) {
      harness_errs++;
    } else {
      shadow[depth].ret = ret;
      shadow[depth].slot = sp;
      depth++;
    }
  }
  bool popped = false;
  uintptr_t last = 0;
  while (depth > 0 && shadow[depth - 1].slot < sp) {
    last = shadow[--depth].ret;
    popped = true;
  }
  if (kind == K_RET && (!popped || last != pc)) harness_errs++;
}

/* The table row for pc (as unw_find finds it): [*lo, *hi). */
__attribute__((no_sanitize_address)) static bool row_of(uintptr_t pc, uintptr_t *lo,
                                                        uintptr_t *hi) {
  const struct unw_registry *r = atomic_load_explicit(&unw_tables, memory_order_acquire);
  for (uint32_t k = 0; r && k < r->n; k++) {
    const struct unw_module *m = r->mods[k];
    int64_t i = unw_row(m, pc);
    if (i < 0) continue;
    *lo = m->base + m->off[i];
    *hi = i + 1 < m->n ? m->base + m->off[i + 1] : m->hi;
    return true;
  }
  return false;
}

__attribute__((no_sanitize_address)) static void note_invalid(uintptr_t at, bool leaf, int region) {
  uintptr_t lo = at, hi = at + 1;
  row_of(leaf ? at : at - 1, &lo, &hi);
  for (int i = 0; i < nsites; i++)
    if (sites[i].lo == lo && sites[i].leaf == leaf) {
      sites[i].count++;
      return;
    }
  if (nsites < MAXSITES)
    sites[nsites++] = (struct site){lo, hi, leaf, region, 1};
  else
    overflow++;
}

__attribute__((no_sanitize_address)) static void note_fail(const struct fail *f) {
  for (int i = nfsites - 1; i >= 0 && i >= nfsites - 64; i--)
    if (fsites[i].pc == f->pc) {
      fsites[i].count++;
      return;
    }
  if (nfsites < MAXFSITES)
    fsites[nfsites++] = (struct fsite){f->pc, 1, *f};
  else
    overflow++;
}

/* The walk at this instruction against the shadow stack. */
__attribute__((no_sanitize_address)) static void check(uintptr_t pc, uintptr_t sp, uintptr_t fp) {
  walk.n = 0;
  enum unw_end end = unw_walk((struct unw_regs){pc, sp, fp, 0}, true, sp, stack_hi, unw_read_direct,
                              NULL, emit, &walk, NULL);
  int region = region_of(pc), inner = depth - base, want_n = inner + nouter, at = -1;
  uintptr_t want = 0;
  nsteps++;
  steps[region]++;
  if (pc == prev_check_pc) nrepeat++; /* a rep-prefixed instruction's next iteration */
  prev_check_pc = pc;
  for (int i = 0; i < walk.n && at < 0; i++) {
    want = i < inner ? shadow[depth - 1 - i].ret : i < want_n ? outer[i - inner] : 0;
    if (i >= want_n || walk.f[i] != want) at = i;
  }
  if (at < 0 && walk.n == want_n && (int)end == outer_end) {
    if (depth > max_depth) {
      max_depth = depth;
      deepest = walk;
      deepest_pc = pc;
    }
    return;
  }
  if (at < 0 && walk.n < want_n && end == UNW_END_BROKEN) {
    /* Only correct frames, then a stop: at an INVALID row? */
    bool leaf = walk.n == 0;
    uintptr_t bpc = leaf ? pc : walk.f[walk.n - 1];
    const struct unw_rule *rule = unw_find(leaf ? bpc : bpc - 1);
    /* Only where the tables are known not to follow the CFI: anywhere
     * else, an INVALID row is a failure. */
    uintptr_t at = leaf ? bpc : bpc - 1;
    if (rule && rule->kind == UNW_INVALID &&
        ((at >= binder_lo && at < binder_hi) || (at >= realign_lo && at < realign_hi))) {
      invalids[region]++;
      note_invalid(bpc, leaf, region);
      return;
    }
  }
  fails[region]++;
  if (at < 0) at = walk.n;
  want = at < inner ? shadow[depth - 1 - at].ret : at < want_n ? outer[at - inner] : 0;
  struct fail f = {
      nsteps, pc, region, at, walk.n, want_n, (int)end, want, at < walk.n ? walk.f[at] : 0};
  note_fail(&f);
}

#define TF 0x100

__attribute__((no_sanitize_address)) static void on_trap(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  (void)si;
  ucontext_t *uc = ucv;
  uintptr_t pc = arch_uc_pc(uc), sp = arch_uc_sp(uc), fp = arch_uc_fp(uc);
  if (done) return;
  uc->uc_mcontext.gregs[REG_EFL] |= TF;
  if (have_prev) track(pc, sp);
  prev_pc = pc;
  prev_sp = sp;
  have_prev = true;
  if (!active) {
    if (pc != root_pc || depth == 0) return;
    /* t_root's first instruction: its return address is the shadow's
     * top, the bottom of what is checked. */
    active = true;
    base = depth - 1;
    uintptr_t ret = shadow[base].ret; /* after stepper's call t_root (e8 rel32) */
    int32_t rel;
    memcpy(&rel, (const void *)(ret - 4), sizeof rel); /* unaligned */
    if (*(const uint8_t *)(ret - 5) != 0xe8 || ret + (uintptr_t)(intptr_t)rel != root_pc)
      harness_errs++;
  }
  if (depth <= base) { /* t_root returned */
    uc->uc_mcontext.gregs[REG_EFL] &= ~TF;
    active = false;
    done = true;
    return;
  }
  check(pc, sp, fp);
}

/* ---- a run ---- */

static unsigned char input[2048];
static int root_result;
static char altstack[256 * 1024];

static void *stepper(void *arg) {
  (void)arg;
  pthread_attr_t a;
  void *addr;
  size_t size;
  CHECK(pthread_getattr_np(pthread_self(), &a) == 0);
  CHECK(pthread_attr_getstack(&a, &addr, &size) == 0);
  pthread_attr_destroy(&a);
  stack_hi = (uintptr_t)addr + size;
  /* The frames above t_root: this function's return into libc's thread
   * start and on to the base, walked once from this frame (frame
   * pointers: the CFA is FP + 16).  Each walk below must end with them. */
  const uintptr_t *frame = __builtin_frame_address(0);
  caller_ret = (uintptr_t)__builtin_return_address(0);
  walk.n = 0;
  outer_end = unw_walk((struct unw_regs){caller_ret, (uintptr_t)(frame + 2), frame[0], 0}, false,
                       (uintptr_t)(frame + 2), stack_hi, unw_read_direct, NULL, emit, &walk, NULL);
  outer[0] = caller_ret;
  nouter = 1;
  for (int i = 0; i < walk.n && nouter < MAXF; i++)
    outer[nouter++] = walk.f[i];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack}, old;
  CHECK(sigaltstack(&ss, &old) == 0);
  /* TF on (below the red zone, which pushf would overwrite), then the
   * call: each instruction from here traps, until t_root returns. */
  __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                   "pushfq\n\t"
                   "orq $0x100, (%%rsp)\n\t"
                   "popfq\n\t"
                   "lea 128(%%rsp), %%rsp" ::
                       : "memory", "cc");
  root_result = t_root(input, (int)sizeof input);
  __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                   "pushfq\n\t"
                   "andq $~0x100, (%%rsp)\n\t"
                   "popfq\n\t"
                   "lea 128(%%rsp), %%rsp" ::
                       : "memory", "cc");
  /* The previous one back (ASan frees the one it installed at exit). */
  CHECK(sigaltstack(&old, NULL) == 0);
  return NULL;
}

static Dwfl *dwfl;

/* "function+0xoff (module+0xoff)" for pc. */
static const char *describe(uintptr_t pc, char *buf, size_t cap) {
  Dwfl_Module *m = dwfl ? dwfl_addrmodule(dwfl, pc) : NULL;
  const char *mod = "?", *fn = NULL;
  Dwarf_Addr mbase = 0;
  GElf_Off off = 0;
  GElf_Sym sym;
  if (m) {
    mod = dwfl_module_info(m, NULL, &mbase, NULL, NULL, NULL, NULL, NULL);
    fn = dwfl_module_addrinfo(m, pc, &off, &sym, NULL, NULL, NULL);
    const char *slash = mod ? strrchr(mod, '/') : NULL;
    if (slash) mod = slash + 1;
  }
  if (fn)
    snprintf(buf, cap, "%s+0x%lx (%s+0x%lx)", fn, (unsigned long)off, mod ? mod : "?",
             (unsigned long)(pc - mbase));
  else
    snprintf(buf, cap, "%#lx (%s+0x%lx)", (unsigned long)pc, mod ? mod : "?",
             (unsigned long)(pc - mbase));
  return buf;
}

static const char *end_name(int end) {
  return end == UNW_END_BASE ? "base" : end == UNW_END_BROKEN ? "broken" : "full";
}

struct totals {
  uint64_t steps, invalid, failed;
};

static struct totals run(const char *what, uint64_t *binder_steps) {
  memset(shadow, 0, sizeof shadow);
  depth = base = nfsites = nsites = max_depth = 0;
  have_prev = active = done = false;
  nsteps = nrepeat = harness_errs = overflow = 0;
  prev_check_pc = 0;
  memset(steps, 0, sizeof steps);
  memset(invalids, 0, sizeof invalids);
  memset(fails, 0, sizeof fails);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, stepper, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

  printf("%s: %llu instructions stepped in %.2f s (%llu of them further iterations of a rep "
         "string instruction), max shadow depth %d\n",
         what, (unsigned long long)nsteps, secs, (unsigned long long)nrepeat, max_depth);
  char b1[512], b2[512];
  /* The frames above t_root: its caller (stepper), then libc's thread
   * start, ending at the base. */
  /* What every walk must end with: stepper's return into libc's thread
   * start, on to the base (clone3's undefined return address). */
  bool outer_ok = outer_end == UNW_END_BASE && nouter >= 2;
  printf("  %s above t_root: stepper", outer_ok ? "frames" : "FAIL: wrong frames");
  for (int i = 0; i < nouter; i++)
    printf(" <- %s", describe(outer[i] - 1, b1, sizeof b1));
  printf(" (%s)\n", end_name(outer_end));
  CHECK(done);
  CHECK(harness_errs == 0);
  if (overflow) printf("  (INVALID sites overflowed: %llu)\n", (unsigned long long)overflow);

  struct totals tot = {0, 0, outer_ok ? 0 : 1};
  printf("  %-30s %9s %9s %9s\n", "region", "steps", "INVALID", "FAILED");
  for (int r = 0; r < NREG; r++) {
    printf("  %-30s %9llu %9llu %9llu\n", region_name[r], (unsigned long long)steps[r],
           (unsigned long long)invalids[r], (unsigned long long)fails[r]);
    tot.steps += steps[r];
    tot.invalid += invalids[r];
    tot.failed += fails[r];
  }
  printf("  %-30s %9llu %9llu %9llu\n", "total", (unsigned long long)tot.steps,
         (unsigned long long)tot.invalid, (unsigned long long)tot.failed);
  *binder_steps = steps[R_BINDER];

  if (deepest.n) {
    printf("  the deepest walk (shadow depth %d), leaf %s:\n", max_depth,
           describe(deepest_pc, b1, sizeof b1));
    for (int i = 0; i < deepest.n; i++)
      printf("    <- %s\n", describe(deepest.f[i] - 1, b1, sizeof b1));
  }
  for (int i = 0; i < nsites; i++) {
    const struct site *t = &sites[i];
    printf("  INVALID row [%s, +%lu) ends %llu walks (%s; first in %s)\n",
           describe(t->lo, b1, sizeof b1), (unsigned long)(t->hi - t->lo),
           (unsigned long long)t->count,
           t->leaf ? "at the stepped pc" : "at a return address into it", region_name[t->region]);
  }
  if (nfsites) printf("  failed walks, by stepped pc (the first failure there):\n");
  for (int i = 0; i < nfsites && i < 80; i++) {
    const struct fail *f = &fsites[i].first;
    printf("  FAIL %s [%s] x%llu: frame %d is %s", describe(f->pc, b1, sizeof b1),
           region_name[f->region], (unsigned long long)fsites[i].count, f->at,
           f->got ? describe(f->got - 1, b2, sizeof b2) : "(none)");
    printf(", want %s (walk: %d frames, %s; want %d)\n",
           f->want ? describe(f->want - 1, b1, sizeof b1) : "(none)", f->got_n, end_name(f->end),
           f->want_n);
  }
  if (nfsites > 80) printf("  ... and %d more failing pcs\n", nfsites - 80);
  return tot;
}

int main(int argc, char **argv) {
  (void)argc;
  /* The first run must go through the lazy binder. */
  const char *bn = getenv("LD_BIND_NOW");
  if (bn && bn[0]) {
    unsetenv("LD_BIND_NOW");
    execv("/proc/self/exe", argv);
    CHECK(!"execv");
  }
  for (size_t i = 0; i < sizeof input; i++) /* compressible, not trivially */
    input[i] = (unsigned char)("the quick brown fox "[i % 20] + (i * 7 / 61) % 3);

  CHECK(unw_refresh() == 0);
  setup_regions();
  root_pc = (uintptr_t)t_root;
  /* Bind what the handler calls (unw_find's _dl_find_object) before any
   * step: the binder must not run inside the handler. */
  (void)unw_find((uintptr_t)t_root);

  unsetenv("DEBUGINFOD_URLS");
  static const Dwfl_Callbacks cb = {.find_elf = dwfl_linux_proc_find_elf,
                                    .find_debuginfo = dwfl_standard_find_debuginfo};
  dwfl = dwfl_begin(&cb);
  if (dwfl &&
      (dwfl_linux_proc_report(dwfl, getpid()) != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0)) {
    dwfl_end(dwfl);
    dwfl = NULL;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_trap;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGTRAP, &sa, NULL) == 0);

  uint64_t binder_cold, binder_warm;
  struct totals cold = run("run 1 (lazy binding: PLT slots bound on first call)", &binder_cold);
  struct totals warm = run("run 2 (bound)", &binder_warm);

  CHECK(binder_cold > 0); /* the lazy binder was stepped through */
  CHECK(binder_warm == 0);
  CHECK(cold.steps > 1000 && warm.steps > 1000);
  printf("checked %llu instructions: %llu walks ended at an INVALID row (listed above), %llu "
         "failed\n",
         (unsigned long long)(cold.steps + warm.steps),
         (unsigned long long)(cold.invalid + warm.invalid),
         (unsigned long long)(cold.failed + warm.failed));
  CHECK(cold.failed == 0 && warm.failed == 0);
  if (dwfl) dwfl_end(dwfl);
  return 0;
}

#endif
