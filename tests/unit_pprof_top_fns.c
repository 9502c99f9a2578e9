/*
 * unit_pprof_top_fns: grt-pprof's top table (pprof_top, tools/grt-pprof/)
 * names code that a profile leaves without a function by the function that
 * contains it, found in the FDE table of the mapping file's .eh_frame_hdr
 * (elf_fns.c), as "libgrt_top_strip.so+0x1130": the file's basename and
 * the function's start in the numbering of nm, objdump and addr2line.
 *
 * The library is tests/lib/top_strip_lib.c, stripped (--strip-all), with two
 * hot static functions; the build keeps an unstripped copy, whose `nm -S`
 * is the oracle.
 *  1. elf_fns on the stripped file: every top_* function of nm, at its
 *     first and last byte, is found with nm's start; the ELF header is in
 *     no function.
 *  2. A profile written by libgrt's writer (symbolized as grt_prof_stop
 *     does it: the static functions get no name) shows two rows
 *     libgrt_top_strip.so+0x<start>, at nm's starts, with the exact flat
 *     and cum, two locations of one function merged; no [libgrt_top_strip.so]
 *     row; the exported function keeps its name.
 *  3. Fallbacks on hand-made profiles naming a copy of the file: the copy
 *     truncated at every length, with a wrong magic, with its
 *     PT_GNU_EH_FRAME pointing outside the file, a bad .eh_frame_hdr
 *     (version, table encoding, huge count, FDE pointers outside), random
 *     garbage, random mutations of its headers and unwind tables; a
 *     directory, /dev/zero, a FIFO (no hang), a missing file; another build
 *     ID; an address outside the mapping or in no FDE.  Each shows the
 *     mapping's row "[libcopy.so]" (or, for mutations, anything) and never
 *     a wrong function, never a crash (the suite runs it under ASan too).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "elf_fns.h"     /* the reader under test */
#include "pprof_top.h"   /* and its caller */
#include "pprof/pprof.h" /* libgrt's writer makes a profile */

void top_lib_pcs(uintptr_t *a, uintptr_t *b, uintptr_t *burn);
uint64_t top_lib_burn(uint64_t n);

static char tmpdir[] = "/tmp/unit_pprof_top_fns.XXXXXX";

static char *tmp_path(const char *name) {
  char *p;
  CHECK(asprintf(&p, "%s/%s", tmpdir, name) > 0);
  return p;
}

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, data, len) == (ssize_t)len);
  CHECK(close(fd) == 0);
}

static size_t read_whole(const char *path, uint8_t **out) {
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  CHECK(buf);
  CHECK(read(fd, buf, (size_t)st.st_size) == st.st_size);
  close(fd);
  *out = buf;
  return (size_t)st.st_size;
}

/* Runs pprof_top(path, n): its result, and what it printed in *out. */
static int top(const char *path, int n, char **out) {
  static char *opath;
  if (!opath) opath = tmp_path("top.out");
  int fd = open(opath, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  int rc = pprof_top(path, n, fd);
  off_t len = lseek(fd, 0, SEEK_END);
  CHECK(len >= 0);
  char *buf = malloc((size_t)len + 1);
  CHECK(buf);
  CHECK(pread(fd, buf, (size_t)len, 0) == len);
  buf[len] = 0;
  close(fd);
  *out = buf;
  return rc;
}

/* ---- the oracle: nm -S of the unstripped copy ---- */

struct sym {
  char name[64];
  uint64_t addr, size;
};
static struct sym syms[64];
static int nsyms;

static const struct sym *sym_named(const char *name) {
  for (int i = 0; i < nsyms; i++)
    if (strcmp(syms[i].name, name) == 0) return &syms[i];
  fprintf(stderr, "nm has no %s\n", name);
  CHECK(0);
  return NULL;
}

static void read_nm(void) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -S --defined-only '%s'", NM, TOP_STRIP_UNSTRIPPED);
  FILE *p = popen(cmd, "r");
  CHECK(p);
  char line[512];
  while (fgets(line, sizeof line, p)) {
    struct sym s;
    char type;
    if (sscanf(line, "%" SCNx64 " %" SCNx64 " %c %63s", &s.addr, &s.size, &type, s.name) != 4)
      continue;
    if ((type == 't' || type == 'T') && strncmp(s.name, "top_", 4) == 0 && nsyms < 64)
      syms[nsyms++] = s;
  }
  CHECK(pclose(p) == 0);
  printf("nm: %d top_* functions:", nsyms);
  for (int i = 0; i < nsyms; i++)
    printf(" %s@0x%" PRIx64 "+%" PRIu64, syms[i].name, syms[i].addr, syms[i].size);
  printf("\n");
  CHECK(nsyms >= 3);
}

/* ---- the file: its program headers ---- */

static uint8_t *lib; /* the stripped library's bytes */
static size_t libsize;
static Elf64_Ehdr ehdr;

static Elf64_Phdr phdr(const uint8_t *bytes, int i) {
  Elf64_Phdr p;
  memcpy(&p, bytes + ehdr.e_phoff + (size_t)i * ehdr.e_phentsize, sizeof p);
  return p;
}

/* The index of the first program header of type. */
static int phdr_index(uint32_t type) {
  for (int i = 0; i < ehdr.e_phnum; i++)
    if (phdr(lib, i).p_type == type) return i;
  CHECK(0);
  return -1;
}

/* The file offset of virtual address v. */
static uint64_t file_off(uint64_t v) {
  for (int i = 0; i < ehdr.e_phnum; i++) {
    Elf64_Phdr p = phdr(lib, i);
    if (p.p_type == PT_LOAD && v >= p.p_vaddr && v - p.p_vaddr < p.p_filesz)
      return p.p_offset + (v - p.p_vaddr);
  }
  CHECK(0);
  return 0;
}

static void load_lib(void) {
  libsize = read_whole(TOP_STRIP_LIB, &lib);
  CHECK(libsize > sizeof ehdr);
  memcpy(&ehdr, lib, sizeof ehdr);
  CHECK(memcmp(ehdr.e_ident, ELFMAG, SELFMAG) == 0 && ehdr.e_phentsize == sizeof(Elf64_Phdr));
}

/* ---- 1. elf_fns directly ---- */

static void check_elf_fns(void) {
  struct elf_fns *e = elf_fns_open(TOP_STRIP_LIB);
  CHECK(e);
  for (int i = 0; i < nsyms; i++) {
    uint64_t start = 0, last = syms[i].addr + (syms[i].size ? syms[i].size - 1 : 0);
    CHECK(elf_fns_find(e, file_off(syms[i].addr), &start) == 1);
    CHECK(start == syms[i].addr);
    start = 0;
    CHECK(elf_fns_find(e, file_off(last), &start) == 1);
    CHECK(start == syms[i].addr);
  }
  /* The padding after a function, up to the next one, is in none: the
   * FDE's pc range ends where the function does. */
  int gaps = 0;
  for (int i = 0; i < nsyms; i++) {
    uint64_t end = syms[i].addr + syms[i].size, next = UINT64_MAX;
    for (int j = 0; j < nsyms; j++)
      if (syms[j].addr >= end && syms[j].addr < next) next = syms[j].addr;
    if (next == UINT64_MAX || end == next) continue;
    uint64_t start = 0;
    CHECK(elf_fns_find(e, file_off(end), &start) == 0);
    gaps++;
  }
  CHECK(gaps > 0);
  uint64_t start;
  CHECK(elf_fns_find(e, 0x10, &start) == 0);           /* the ELF header */
  CHECK(elf_fns_find(e, UINT64_MAX - 4, &start) == 0); /* in no segment */
  size_t len;
  CHECK(elf_fns_build_id(e, &len) && len == 20); /* --build-id: SHA1 */
  elf_fns_close(e);
  CHECK(elf_fns_open(TOP_STRIP_LIB ".missing") == NULL);
  CHECK(elf_fns_open(NULL) == NULL);
  printf("elf_fns: every function found at nm's start\n");
}

/* ---- 2. a profile written by libgrt ---- */

__attribute__((noinline)) int local_fn(int x) {
  __asm__ volatile("" : "+r"(x));
  return x + 1;
}

enum { PERIOD = 10000000 }; /* 10 ms a sample */

static void check_written_profile(void) {
  uintptr_t a, b, burn;
  top_lib_pcs(&a, &b, &burn);
  const struct sym *sa = sym_named("top_spin_a"), *sb = sym_named("top_spin_b");
  CHECK(sa->size > 4 && sb->size > 4);
  struct {
    uintptr_t pcs[2];
    int npcs;
    int64_t weight;
  } stacks[] = {
      {{a + 1, burn + 8}, 2, 30}, /* two locations of top_spin_a */
      {{a + sa->size / 2, burn + 8}, 2, 10},
      {{b + sb->size / 2, burn + 12}, 2, 20},
      {{burn + 4}, 1, 15},
      {{(uintptr_t)local_fn + 2}, 1, 25},
  };
  pprof_writer *w = pprof_writer_new(PERIOD, 1700000000000000000LL);
  CHECK(w);
  for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++)
    CHECK(pprof_writer_add(w, stacks[i].pcs, stacks[i].npcs, NULL, stacks[i].weight) == 0);
  symbolizer *s = symbolize_open();
  CHECK(s);
  char *path = tmp_path("written.pb.gz");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, s, 2000000000LL, fd) == 0);
  CHECK(close(fd) == 0);
  symbolize_close(s);
  pprof_writer_free(w);

  char *out;
  CHECK(top(path, 20, &out) == 0);
  printf("---- pprof_top of a profile of the stripped library ----\n%s", out);
  char want[4][128];
  snprintf(want[0], sizeof want[0],
           "     400ms 40.00%% 40.00%%      400ms 40.00%%  libgrt_top_strip.so+0x%" PRIx64 "\n",
           sa->addr);
  snprintf(want[1], sizeof want[1], "     250ms 25.00%% 65.00%%      250ms 25.00%%  local_fn\n");
  snprintf(want[2], sizeof want[2],
           "     200ms 20.00%% 85.00%%      200ms 20.00%%  libgrt_top_strip.so+0x%" PRIx64 "\n",
           sb->addr);
  snprintf(want[3], sizeof want[3],
           "     150ms 15.00%%   100%%      750ms 75.00%%  top_lib_burn\n");
  char *at = out;
  for (int i = 0; i < 4; i++) {
    char *hit = strstr(at, want[i]);
    if (!hit) fprintf(stderr, "missing, in this order:\n%s", want[i]);
    CHECK(hit);
    at = hit + strlen(want[i]);
  }
  CHECK(strstr(out, "Showing top 4 of 4 functions"));
  CHECK(!strstr(out, "[libgrt_top_strip"));
  free(out);
  free(path);
}

/* ---- 3. hand-made profiles: fallbacks ---- */

struct pb {
  unsigned char b[4096];
  size_t n;
};

static void pb_varint(struct pb *p, uint64_t v) {
  do {
    CHECK(p->n < sizeof p->b);
    p->b[p->n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
}
static void pb_int(struct pb *p, int field, uint64_t v) {
  pb_varint(p, (uint64_t)field << 3);
  pb_varint(p, v);
}
static void pb_msg(struct pb *p, int field, const struct pb *m) {
  pb_varint(p, (uint64_t)field << 3 | 2);
  pb_varint(p, m->n);
  CHECK(p->n + m->n <= sizeof p->b);
  memcpy(p->b + p->n, m->b, m->n);
  p->n += m->n;
}
static void pb_str(struct pb *p, int field, const char *s) {
  struct pb m = {.n = strlen(s)};
  memcpy(m.b, s, m.n);
  pb_msg(p, field, &m);
}

#define MAP_START 0x7f0000000000ull
#define MAP_SIZE 0x100000ull
static uint64_t map_limit = MAP_START + MAP_SIZE;

/* A CPU profile of two locations in one mapping of file (offset 0, build
 * ID bid): addr1 in 3 samples, addr2 in 1. */
static void hand_profile(const char *profile, const char *file, const char *bid, uint64_t addr1,
                         uint64_t addr2) {
  struct pb p = {.n = 0}, m;
  const char *strs[] = {"", "samples", "count", "cpu", "nanoseconds", file, bid};
  for (int i = 0; i < 2; i++) {
    m = (struct pb){.n = 0};
    pb_int(&m, 1, 1 + 2 * (uint64_t)i);
    pb_int(&m, 2, 2 + 2 * (uint64_t)i);
    pb_msg(&p, 1, &m);
  }
  for (int i = 0; i < 2; i++) { /* samples */
    m = (struct pb){.n = 0};
    pb_int(&m, 1, 1 + (uint64_t)i);
    pb_int(&m, 2, i ? 1 : 3);
    pb_int(&m, 2, i ? 1000000 : 3000000);
    pb_msg(&p, 2, &m);
  }
  m = (struct pb){.n = 0}; /* the mapping */
  pb_int(&m, 1, 1);
  pb_int(&m, 2, MAP_START);
  pb_int(&m, 3, map_limit);
  pb_int(&m, 4, 0);
  pb_int(&m, 5, 5);
  pb_int(&m, 6, 6);
  pb_msg(&p, 3, &m);
  for (int i = 0; i < 2; i++) { /* locations: no lines */
    m = (struct pb){.n = 0};
    pb_int(&m, 1, 1 + (uint64_t)i);
    pb_int(&m, 2, 1);
    pb_int(&m, 3, i ? addr2 : addr1);
    pb_msg(&p, 4, &m);
  }
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    pb_str(&p, 6, strs[i]);
  write_file(profile, p.b, p.n);
}

static char *copy_path, *hand_path, *bid_hex;
static uint64_t addr_a, addr_b; /* in top_spin_a and top_spin_b */

enum { WRONG = 0, FALLBACK = 1, NAMED = 2 };

/* What pprof_top shows for the hand-made profile of file (with build ID
 * bid): NAMED (the two functions at nm's starts), FALLBACK (the mapping's
 * row), else WRONG (printed). */
static int classify_file(const char *file, const char *bid, uint64_t a1, uint64_t a2) {
  hand_profile(hand_path, file, bid, a1, a2);
  char *out;
  int rc = top(hand_path, 10, &out);
  CHECK(rc == 0);
  const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
  char named[2][128], fallback[128];
  snprintf(named[0], sizeof named[0],
           "       3ms 75.00%% 75.00%%        3ms 75.00%%  %s+0x%" PRIx64 "\n", base,
           sym_named("top_spin_a")->addr);
  snprintf(named[1], sizeof named[1],
           "       1ms 25.00%%   100%%        1ms 25.00%%  %s+0x%" PRIx64 "\n", base,
           sym_named("top_spin_b")->addr);
  snprintf(fallback, sizeof fallback, "       4ms   100%%   100%%        4ms   100%%  [%s]\n",
           base);
  int r = WRONG;
  if (strstr(out, named[0]) && strstr(out, named[1]) && strstr(out, "Showing top 2 of 2 "))
    r = NAMED;
  else if (strstr(out, fallback) && strstr(out, "Showing top 1 of 1 "))
    r = FALLBACK;
  if (r == WRONG) printf("unexpected table for %s:\n%s", file, out);
  free(out);
  return r;
}

static int classify(const uint8_t *bytes, size_t len) {
  write_file(copy_path, bytes, len);
  return classify_file(copy_path, bid_hex, addr_a, addr_b);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void check_fallbacks(void) {
  copy_path = tmp_path("libcopy.so");
  hand_path = tmp_path("hand.pb");
  addr_a = MAP_START + file_off(sym_named("top_spin_a")->addr) + 1;
  addr_b = MAP_START + file_off(sym_named("top_spin_b")->addr) + 3;
  struct elf_fns *e = elf_fns_open(TOP_STRIP_LIB);
  CHECK(e);
  size_t idlen;
  const uint8_t *id = elf_fns_build_id(e, &idlen);
  CHECK(id && idlen == 20);
  bid_hex = malloc(2 * idlen + 1);
  CHECK(bid_hex);
  for (size_t i = 0; i < idlen; i++)
    sprintf(bid_hex + 2 * i, "%02x", id[i]);
  elf_fns_close(e);

  /* The intact copy is named: each fallback below is the damage's doing. */
  CHECK(classify(lib, libsize) == NAMED);
  CHECK(classify_file(copy_path, "", addr_a, addr_b) == NAMED); /* no build ID: not checked */
  char upper[64];
  for (size_t i = 0; i <= strlen(bid_hex); i++)
    upper[i] = (char)(bid_hex[i] >= 'a' ? bid_hex[i] - 32 : bid_hex[i]);
  CHECK(classify_file(copy_path, upper, addr_a, addr_b) == NAMED);

  /* Another build, or a build ID of another length. */
  CHECK(classify_file(copy_path, "00112233445566778899aabbccddeeff00112233", addr_a, addr_b) ==
        FALLBACK);
  CHECK(classify_file(copy_path, "0011", addr_a, addr_b) == FALLBACK);
  char longer[64];
  snprintf(longer, sizeof longer, "%s00", bid_hex);
  CHECK(classify_file(copy_path, longer, addr_a, addr_b) == FALLBACK);
  /* Addresses outside the mapping, or in the ELF header (no FDE). */
  CHECK(classify_file(copy_path, bid_hex, MAP_START - 16, MAP_START + MAP_SIZE) == FALLBACK);
  CHECK(classify_file(copy_path, bid_hex, MAP_START + 0x10, MAP_START + 0x20) == FALLBACK);
  map_limit = addr_a - 1; /* the mapping ends before the functions */
  CHECK(classify_file(copy_path, bid_hex, addr_a, addr_b) == FALLBACK);
  map_limit = MAP_START + MAP_SIZE;
  /* Not a regular file, or none; a FIFO must not block the reader. */
  char *fifo = tmp_path("fifo.so");
  CHECK(mkfifo(fifo, 0644) == 0);
  const char *others[] = {tmpdir, "/dev/zero", "/dev/null", fifo, "/nonexistent/libcopy.so"};
  for (size_t i = 0; i < sizeof others / sizeof *others; i++)
    CHECK(classify_file(others[i], bid_hex, addr_a, addr_b) == FALLBACK);
  free(fifo);

  uint8_t *bad = malloc(libsize + 4096);
  CHECK(bad);
  int ehf = phdr_index(PT_GNU_EH_FRAME);
  Elf64_Phdr eh = phdr(lib, ehf);
  size_t eh_at = ehdr.e_phoff + (size_t)ehf * ehdr.e_phentsize; /* its program header */
  printf(".eh_frame_hdr at file offset 0x%" PRIx64 ", %" PRIu64 " bytes\n", eh.p_offset,
         eh.p_filesz);

  /* Wrong magic, another class, another byte order. */
  size_t spots[] = {0, 1, 3, EI_CLASS, EI_DATA};
  for (size_t i = 0; i < sizeof spots / sizeof *spots; i++) {
    memcpy(bad, lib, libsize);
    bad[spots[i]] ^= 0x40;
    CHECK(classify(bad, libsize) == FALLBACK);
  }
  /* PT_GNU_EH_FRAME outside the file, overflowing, or too small. */
  uint64_t offs[][2] = {{libsize + 100, eh.p_filesz},
                        {libsize - 2, eh.p_filesz},
                        {eh.p_offset, UINT64_MAX - 8},
                        {UINT64_MAX - 2, 64},
                        {eh.p_offset, 3},
                        {eh.p_offset, 12}}; /* the header, and no table */
  for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
    memcpy(bad, lib, libsize);
    Elf64_Phdr p = eh;
    p.p_offset = offs[i][0];
    p.p_filesz = offs[i][1];
    memcpy(bad + eh_at, &p, sizeof p);
    CHECK(classify(bad, libsize) == FALLBACK);
  }
  /* The program headers outside the file, or absurdly many. */
  memcpy(bad, lib, libsize);
  ((Elf64_Ehdr *)bad)->e_phoff = libsize - 8;
  CHECK(classify(bad, libsize) == FALLBACK);
  memcpy(bad, lib, libsize);
  ((Elf64_Ehdr *)bad)->e_phnum = 0xffff;
  CHECK(classify(bad, libsize) == FALLBACK);
  /* The header: version, table encoding, a huge count, FDEs elsewhere. */
  size_t h = (size_t)eh.p_offset;
  CHECK(lib[h] == 1 && lib[h + 3] == 0x3b); /* version 1, datarel|sdata4 */
  memcpy(bad, lib, libsize);
  bad[h] = 2;
  CHECK(classify(bad, libsize) == FALLBACK);
  memcpy(bad, lib, libsize);
  bad[h + 3] = 0x03;
  CHECK(classify(bad, libsize) == FALLBACK);
  CHECK(lib[h + 1] == 0x1b && lib[h + 2] == 0x03); /* a pcrel|sdata4 pointer, a udata4 count */
  uint32_t huge[] = {0x7fffffff, 0xffffffff, 1u << 22};
  for (size_t i = 0; i < 3; i++) {
    memcpy(bad, lib, libsize);
    memcpy(bad + h + 8, &huge[i], 4);
    CHECK(classify(bad, libsize) == FALLBACK);
  }
  uint32_t count;
  memcpy(&count, lib + h + 8, 4);
  int32_t far[] = {0x7fffffff, INT32_MIN, -(int32_t)eh.p_vaddr, 0};
  for (size_t i = 0; i < 4; i++) { /* every FDE pointer elsewhere */
    memcpy(bad, lib, libsize);
    for (uint32_t k = 0; k < count; k++)
      memcpy(bad + h + 12 + 8 * k + 4, &far[i], 4);
    CHECK(classify(bad, libsize) == FALLBACK);
  }

  /* A table that disagrees with the FDEs: every initial location 2 bytes
   * early (so the table alone would name the padding before a function,
   * and our addresses, with the wrong start). */
  memcpy(bad, lib, libsize);
  for (uint32_t k = 0; k < count; k++) {
    int32_t loc;
    memcpy(&loc, bad + h + 12 + 8 * k, 4);
    loc -= 2;
    memcpy(bad + h + 12 + 8 * k, &loc, 4);
  }
  CHECK(classify(bad, libsize) == FALLBACK);

  /* top_spin_a's FDE moved to the last 8 or 12 bytes of its segment: its
   * length and CIE pointer are there, its pc_begin or pc_range is not (the
   * parser must stop at the end of what it read); with all 16, it is
   * found there. */
  uint32_t ka = count;
  uint64_t a_vaddr = sym_named("top_spin_a")->addr;
  for (uint32_t k = 0; k < count; k++) {
    int32_t loc;
    memcpy(&loc, lib + h + 12 + 8 * k, 4);
    if (eh.p_vaddr + (uint64_t)(int64_t)loc == a_vaddr) ka = k;
  }
  CHECK(ka < count);
  int32_t fde_rel;
  memcpy(&fde_rel, lib + h + 12 + 8 * ka + 4, 4);
  uint64_t fde_vaddr = eh.p_vaddr + (uint64_t)(int64_t)fde_rel;
  uint32_t cie_ptr;
  memcpy(&cie_ptr, lib + file_off(fde_vaddr) + 4, 4);
  uint64_t cie_vaddr = fde_vaddr + 4 - cie_ptr;
  Elf64_Phdr seg = {0};
  for (int i = 0; i < ehdr.e_phnum; i++) {
    Elf64_Phdr p = phdr(lib, i);
    if (p.p_type == PT_LOAD && fde_vaddr >= p.p_vaddr && fde_vaddr - p.p_vaddr < p.p_filesz)
      seg = p;
  }
  CHECK(seg.p_type == PT_LOAD && seg.p_offset + seg.p_filesz <= libsize);
  for (uint64_t left = 8; left <= 16; left += 4) {
    uint64_t at = seg.p_vaddr + seg.p_filesz - left; /* the moved FDE */
    CHECK(at >= cie_vaddr + 16);
    memcpy(bad, lib, libsize);
    uint32_t fake[4] = {0x1c, (uint32_t)(at + 4 - cie_vaddr), (uint32_t)(a_vaddr - (at + 8)),
                        (uint32_t)sym_named("top_spin_a")->size};
    memcpy(bad + file_off(at), fake, left);
    int32_t rel = (int32_t)(at - eh.p_vaddr);
    memcpy(bad + h + 12 + 8 * ka + 4, &rel, 4);
    write_file(copy_path, bad, libsize);
    if (left < 16)
      CHECK(classify_file(copy_path, bid_hex, addr_a, addr_a + 2) == FALLBACK);
    else
      CHECK(classify_file(copy_path, bid_hex, addr_a, addr_b) == NAMED);
  }

  /* Truncated at every length: the mapping's row until the table, the
   * FDEs and their CIEs are all there; never a wrong function. */
  int named = 0;
  for (size_t cut = 0; cut < libsize; cut += ASAN_SCALED(1, 5)) {
    int r = classify(lib, cut);
    CHECK(r != WRONG);
    if (cut < eh.p_offset + 12 + 8 * (uint64_t)count) CHECK(r == FALLBACK);
    named += r == NAMED;
  }
  printf("truncated copies: %d of %zu lengths still named the functions\n", named, libsize);

  /* Garbage, with and without a valid ELF header in front. */
  for (int round = 0; round < 20; round++) {
    for (size_t i = 0; i < libsize; i++)
      bad[i] = (uint8_t)next_rand();
    if (round % 2) memcpy(bad, lib, sizeof ehdr);
    CHECK(classify(bad, libsize) == FALLBACK);
  }

  /* Random mutations of the headers and the unwind tables: any answer,
   * no crash (ASan sees one).  Half the edits go to the ELF and program
   * headers, half to .eh_frame_hdr and what follows (.eh_frame). */
  size_t ph_end = ehdr.e_phoff + (size_t)ehdr.e_phnum * ehdr.e_phentsize;
  size_t eh_end = h + 0x800 < libsize ? h + 0x800 : libsize;
  int outcome[3] = {0, 0, 0};
  for (int round = 0; round < ASAN_SCALED(3000, 600); round++) {
    memcpy(bad, lib, libsize);
    int edits = 1 + (int)(next_rand() % 4);
    for (int k = 0; k < edits; k++) {
      size_t at = next_rand() % 2 ? next_rand() % ph_end : h + next_rand() % (eh_end - h);
      switch (next_rand() % 3) {
      case 0:
        bad[at] = (uint8_t)next_rand();
        break;
      case 1:
        bad[at] ^= (uint8_t)(1u << (next_rand() % 8));
        break;
      default:
        bad[at] = 0xff;
      }
    }
    write_file(copy_path, bad, libsize);
    hand_profile(hand_path, copy_path, bid_hex, addr_a, addr_b);
    char *out;
    CHECK(top(hand_path, 10, &out) == 0);
    outcome[strstr(out, "+0x") ? 2 : strstr(out, "[libcopy.so]") ? 1 : 0]++;
    free(out);
  }
  printf("mutated copies: %d named, %d fell back, %d other\n", outcome[2], outcome[1], outcome[0]);
  CHECK(outcome[0] == 0);
  free(bad);
}

int main(void) {
  CHECK(top_lib_burn(1000) != 0); /* the library is loaded, its code runs */
  CHECK(mkdtemp(tmpdir));
  read_nm();
  load_lib();
  check_elf_fns();
  check_written_profile();
  check_fallbacks();
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  CHECK(system(cmd) == 0);
  printf("ok\n");
  return 0;
}
