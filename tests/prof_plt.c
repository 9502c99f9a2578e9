/*
 * prof_plt: samples that land on a PLT stub, or in the frameless function
 * it jumps to, keep their caller.  Issue 11, test 4 (its repro).
 *
 * Goroutine g_hot loops calling plt_tiny, a one-instruction function of
 * another shared library (tests/lib/prof_plt_lib.c, built
 * -fomit-frame-pointer as distributions build libraries), through this
 * executable's PLT, profiled at 1000 Hz.  The call goes through the stub:
 * objdump -d of the build's prof_plt (Debian 12's gcc: no CET, so no
 * .plt.sec; the stub is in .plt, lazily bound) shows, in g_hot,
 *     29b2:  e8 69 f7 ff ff          call   2120 <plt_tiny@plt>
 * and the stub
 *     2120:  ff 25 52 4f 00 00       jmp    *0x4f52(%rip)  # 7078 <plt_tiny@Base>
 * CMakeLists.txt builds it without -fno-plt, and check_call_through_plt
 * fails the test unless g_hot calls a stub inside the PLT sections whose
 * GOT slot holds plt_tiny.
 * On aarch64 the call is a bl to a stub of adrp x16; ldr x17, [x16, #n];
 * add x16; br x17 (GNU ld), and the check decodes those instead.
 * A frame-pointer walk from either place skips g_hot: neither the stub
 * nor plt_tiny pushes a frame, so FP is still g_hot's, and its return
 * address is g_hot's caller's.  The stub's CFA is also no plain SP+offset
 * in .plt's lazy part (its CFI is an expression).  On aarch64 the stubs
 * have no CFI at all and the return address is still in x30: the tables
 * synthesize the PLT's rows (LR0, base/unwtab.c).
 *
 * Every sample whose leaf is in plt_tiny's library or in the executable's
 * PLT sections must read, leaf first: that frame, g_hot, then
 * sched_gostart and sched_goentry (libgrt's own frames may come between),
 * with no pseudo-frame: 0 samples lose g_hot.  The PLT's range comes from
 * /proc/self/exe's section headers plus the executable's load bias
 * (dl_iterate_phdr), so it does not depend on symbolization.  Prints how
 * many samples landed in the PLT, in plt_tiny and in g_hot itself; the
 * case is exercised only if some landed in the PLT.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000
#define BURN_NS (ASAN_SCALED(1500, 1000) * 1000000LL)

unsigned plt_tiny(unsigned x); /* tests/lib/prof_plt_lib.c */

volatile unsigned long sink;
static grt_chan *done;

__attribute__((noinline)) void g_hot(void *arg) {
  (void)arg;
  unsigned acc = 1;
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  do {
    for (int i = 0; i < 100000; i++)
      acc = plt_tiny(acc);
  } while (pprof_thread_cpu_ns() < end);
  sink += acc;
  CHECK(grt_chan_send(done, NULL) == 0);
}

/* ---- the executable's PLT sections, in this process ---- */

struct range {
  uintptr_t lo, hi;
};
static struct range plt[3]; /* .plt, .plt.sec, .plt.got */
static int nplt;

static int exe_bias(struct dl_phdr_info *info, size_t size, void *out) {
  (void)size;
  *(uintptr_t *)out = info->dlpi_addr; /* the first object is the executable */
  return 1;
}

static void find_plt(void) {
  uintptr_t bias = 0;
  dl_iterate_phdr(exe_bias, &bias);
  int fd = open("/proc/self/exe", O_RDONLY);
  CHECK(fd >= 0);
  Elf64_Ehdr eh;
  CHECK(pread(fd, &eh, sizeof eh, 0) == sizeof eh);
  CHECK(memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_shentsize == sizeof(Elf64_Shdr));
  Elf64_Shdr *sh = calloc(eh.e_shnum, sizeof *sh);
  CHECK(sh);
  ssize_t len = (ssize_t)(eh.e_shnum * sizeof *sh);
  CHECK(pread(fd, sh, (size_t)len, (off_t)eh.e_shoff) == len);
  Elf64_Shdr *strs = &sh[eh.e_shstrndx];
  char *names = malloc(strs->sh_size);
  CHECK(names);
  CHECK(pread(fd, names, strs->sh_size, (off_t)strs->sh_offset) == (ssize_t)strs->sh_size);
  for (int i = 0; i < eh.e_shnum; i++) {
    const char *n = names + sh[i].sh_name;
    if (strcmp(n, ".plt") == 0 || strcmp(n, ".plt.sec") == 0 || strcmp(n, ".plt.got") == 0) {
      plt[nplt++] = (struct range){bias + sh[i].sh_addr, bias + sh[i].sh_addr + sh[i].sh_size};
      printf("%-9s [%#lx, %#lx)\n", n, (unsigned long)plt[nplt - 1].lo,
             (unsigned long)plt[nplt - 1].hi);
    }
  }
  CHECK(nplt > 0);
  free(names);
  free(sh);
  close(fd);
}

static int in_plt(uintptr_t a) {
  for (int i = 0; i < nplt; i++)
    if (a >= plt[i].lo && a < plt[i].hi) return 1;
  return 0;
}

#if defined(__x86_64__)
/* The stub at a, if it jumps through a GOT slot that holds fn: [endbr64]
 * [bnd] jmp *rel32(%rip). */
static int stub_for(uintptr_t a, uintptr_t fn) {
  const unsigned char *p = (const unsigned char *)a;
  if (memcmp(p, "\xf3\x0f\x1e\xfa", 4) == 0) p += 4;
  if (p[0] == 0xf2) p++;
  if (p[0] != 0xff || p[1] != 0x25) return 0;
  int32_t rel;
  memcpy(&rel, p + 2, 4);
  return *(const uintptr_t *)(p + 6 + rel) == fn;
}

/* The target of a call instruction at p (e8 rel32), or 0; *len: where to
 * look next. */
static uintptr_t call_target(const unsigned char *p, int *len) {
  *len = 1; /* every byte: an e8 inside another instruction is no call */
  if (p[0] != 0xe8) return 0;
  int32_t rel;
  memcpy(&rel, p + 1, 4);
  return (uintptr_t)(p + 5) + (intptr_t)rel;
}
#elif defined(__aarch64__)
/* The stub at a, if it jumps through a GOT slot that holds fn: [bti c]
 * adrp x16, page; ldr x17, [x16, #off]; (add x16; br x17). */
static int stub_for(uintptr_t a, uintptr_t fn) {
  const uint32_t *p = (const uint32_t *)a;
  if (*p == 0xd503245f) p++; /* bti c */
  if ((p[0] & 0x9f00001f) != 0x90000010 || (p[1] & 0xffc003ff) != 0xf9400211) return 0;
  int64_t imm = (int64_t)((((p[0] >> 5) & 0x7ffff) << 2) | ((p[0] >> 29) & 3));
  if (imm & (1 << 20)) imm -= 1 << 21; /* 21 bits, signed: pages */
  uintptr_t page = ((uintptr_t)p & ~(uintptr_t)0xfff) + (uintptr_t)(imm * 4096);
  return *(const uintptr_t *)(page + ((p[1] >> 10) & 0xfff) * 8) == fn;
}

/* The target of a bl at p (imm26, in words), or 0; *len: where to look
 * next. */
static uintptr_t call_target(const unsigned char *p, int *len) {
  uint32_t insn;
  memcpy(&insn, p, 4);
  *len = 4;
  if ((insn & 0xfc000000) != 0x94000000) return 0;
  int64_t imm = (int64_t)(insn & 0x3ffffff);
  if (imm & (1 << 25)) imm -= 1 << 26;
  return (uintptr_t)p + (uintptr_t)(imm * 4);
}
#else
#error "prof_plt: the call and PLT stub encodings of this machine"
#endif

/* g_hot calls plt_tiny through a PLT stub: a call instruction to a stub
 * inside the PLT sections whose GOT slot holds plt_tiny (bound: g_hot has
 * called it).  The test means nothing without it (a build with -fno-plt
 * calls through the GOT instead). */
static void check_call_through_plt(void) {
  /* not &plt_tiny: an address taken makes the linker call through the
   * GOT's stub (.plt.got) instead of the lazy .plt */
  uintptr_t fn = (uintptr_t)dlsym(RTLD_DEFAULT, "plt_tiny");
  CHECK(fn);
  const unsigned char *p = (const unsigned char *)(uintptr_t)g_hot;
  for (int i = 0, len; i < 512; i += len) {
    uintptr_t to = call_target(p + i, &len);
    if (to && in_plt(to) && stub_for(to, fn)) {
      printf("g_hot+%d calls plt_tiny's PLT stub at %#lx\n", i, (unsigned long)to);
      return;
    }
  }
  fprintf(stderr, "g_hot calls no PLT stub of plt_tiny (built with -fno-plt?)\n");
  CHECK(0);
}

/* ---- checking ---- */

/* Are frames from..end of s exactly pattern's functions, libgrt's frames
 * (glue) allowed between them but not before the first? */
static int tail_is(const struct pprof_raw *r, const struct pprof_sample *s, int from,
                   const char *const pattern[], int glue) {
  int i = from;
  for (int k = 0; pattern[k];) {
    const struct pprof_loc *l = pprof_frame(r, s, i);
    if (l && pprof_loc_has_fn(l, pattern[k])) {
      i++;
      k++;
    } else if (l && i > from && l->mapping == glue) {
      i++;
    } else {
      return 0;
    }
  }
  return i == s->nlocs;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  find_plt();
  done = grt_chan_make(0, 0);
  CHECK(done);
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("plt.pb.gz"));
  grt_prof_config cfg = {.path = path, .hz = HZ};
  CHECK(grt_prof_start(&cfg) == 0);
  CHECK(grt_go(g_hot, NULL) == 0);
  CHECK(grt_chan_recv(done, NULL) == 1);
  CHECK(grt_prof_stop() == 0);
  check_call_through_plt();

  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  int lib = pprof_mapping_id(&r, "libprof_plt_lib.so");
  int glue = pprof_mapping_id(&r, "libgrt.so");
  CHECK(lib > 0 && glue > 0);
  static const char *const tail[] = {"g_hot", "sched_gostart", "sched_goentry", NULL};
  int64_t n_plt = 0, n_lib = 0, n_hot = 0, lost = 0, shown = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    const struct pprof_loc *leaf = pprof_frame(&r, s, 0);
    if (leaf->mapping == lib)
      n_lib += s->count;
    else if (in_plt((uintptr_t)leaf->addr))
      n_plt += s->count;
    else if (pprof_loc_has_fn(leaf, "g_hot"))
      n_hot += s->count;
    else
      continue;
    /* from frame 1 for a stub or plt_tiny, from the leaf for g_hot */
    int ok = tail_is(&r, s, pprof_loc_has_fn(leaf, "g_hot") ? 0 : 1, tail, glue);
    if (!ok) {
      if (shown++ < 4)
        pprof_dump_sample(stderr, "want <PLT stub or plt_tiny> g_hot sched_gostart sched_goentry",
                          &r, s);
      lost += s->count;
    }
  }
  printf("%lld samples: %lld in the PLT, %lld in plt_tiny, %lld in g_hot; %lld lost g_hot\n",
         (long long)pprof_total_count(&r), (long long)n_plt, (long long)n_lib, (long long)n_hot,
         (long long)lost);
  CHECK(lost == 0);
  /* 1.5 s of CPU at 1000 Hz: a few hundred in each, here */
  CHECK(n_plt >= 20 && n_lib >= 20);
  pprof_free(&r);
  printf("prof_plt: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return grt_main(run, argc, argv);
}
