/*
 * unit_symbolize: the profiler's symbolizer turns addresses of this process
 * into function/file/line, with inline chains innermost first (a helper
 * inlined into its caller names both), falls back to ELF symbols (libc) and
 * "?" (unmapped addresses), and lists the executable mappings with the GNU
 * build IDs that the ELF notes in memory carry.  Needs -g (the default
 * RelWithDebInfo build).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "pprof/symbolize.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- a plain function, its lines marked ---- */

__attribute__((noinline)) int opaque(int x) {
  asm volatile("" : "+r"(x)); /* the compiler cannot know x */
  return x;
}

enum { KNOWN_FIRST = __LINE__ + 1 };
__attribute__((noinline)) int known_function(int x) {
  /* Calls make it a non-leaf with a frame, some bytes long. */
  return opaque(x) * 3 + opaque(1);
}
enum { KNOWN_LAST = __LINE__ - 1 };

/* ---- an inlined helper and its caller ---- */

volatile int sink; /* work after each call, so that no call is a tail call */
static int helper_call_line, caller_call_line; /* set by the calls' own lines */

/* Its own call site: the return address minus 1 is inside the call
 * instruction, as a profiler's caller pc is. */
__attribute__((noinline)) uintptr_t call_site(void) {
  asm volatile(""); /* side effects: not const, so the call stays */
  return (uintptr_t)__builtin_return_address(0) - 1;
}

static inline __attribute__((always_inline)) uintptr_t inlined_helper(void) {
  uintptr_t pc = (helper_call_line = __LINE__, call_site());
  sink++;
  return pc;
}

__attribute__((noinline)) uintptr_t inline_caller(void) {
  uintptr_t pc = (caller_call_line = __LINE__, inlined_helper());
  sink++;
  return pc;
}

/* ---- the main program's GNU build ID, read from its notes in memory ---- */

static char exe_build_id[65];

static int find_exe_build_id(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  (void)data;
  /* The first object is the main program. */
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *nh = (const void *)p;
      const char *name = p + sizeof *nh;
      const unsigned char *desc = (const void *)(name + ((nh->n_namesz + 3) & ~3u));
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          nh->n_descsz <= 32) {
        for (unsigned j = 0; j < nh->n_descsz; j++)
          snprintf(exe_build_id + 2 * j, 3, "%02x", desc[j]);
        return 1;
      }
      p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

static void print_chain(const char *what, const struct symbolize_line *l, int n) {
  for (int i = 0; i < n; i++)
    printf("%s[%d]: %s %s:%d\n", what, i, l[i].function, l[i].file, l[i].line);
}

static const struct symbolize_mapping *mapping_of(const struct symbolize_mapping *m, int n,
                                                  uintptr_t pc) {
  for (int i = 0; i < n; i++)
    if (m[i].start <= pc && pc < m[i].limit) return &m[i];
  return NULL;
}

static int is_hex40(const char *s) {
  return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

/* The address of sym as defined in the already loaded library lib (asked
 * of the library itself, so interposers such as ASan's do not answer). */
static uintptr_t loaded_symbol(const char *lib, const char *sym) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
  CHECK(h);
  uintptr_t addr = (uintptr_t)dlsym(h, sym);
  CHECK(addr);
  dlclose(h); /* NOLOAD took a reference; the library stays loaded */
  return addr;
}

int main(void) {
  CHECK(known_function(1) == 4);
  symbolizer *s = symbolize_open();
  CHECK(s);
  struct symbolize_line l[16];

  /* A plain function in this file. */
  uintptr_t known_pc = (uintptr_t)known_function + 4;
  int n = symbolize_pc(s, known_pc, l, 16);
  print_chain("known", l, n);
  CHECK(n == 1);
  CHECK(strcmp(l[0].function, "known_function") == 0);
  CHECK(ends_with(l[0].file, "unit_symbolize.c"));
  CHECK(l[0].line >= KNOWN_FIRST && l[0].line <= KNOWN_LAST);

  /* Cached and interned: the same answer, the same strings. */
  struct symbolize_line again[16];
  CHECK(symbolize_pc(s, known_pc, again, 16) == 1);
  CHECK(again[0].function == l[0].function && again[0].file == l[0].file);
  CHECK(again[0].line == l[0].line);
  CHECK(symbolize_pc(s, known_pc + 1, again, 16) == 1);
  CHECK(again[0].function == l[0].function);

  /* An inline chain: helper (at its call) first, then its caller. */
  sink = 0;
  uintptr_t inline_pc = inline_caller();
  CHECK(sink == 2);
  n = symbolize_pc(s, inline_pc, l, 16);
  print_chain("inline", l, n);
  CHECK(n >= 2);
  CHECK(strcmp(l[0].function, "inlined_helper") == 0);
  CHECK(ends_with(l[0].file, "unit_symbolize.c"));
  CHECK(l[0].line == helper_call_line);
  CHECK(strcmp(l[n - 1].function, "inline_caller") == 0);
  CHECK(ends_with(l[n - 1].file, "unit_symbolize.c"));
  CHECK(l[n - 1].line == caller_call_line);
  /* max cuts the chain at the outer end. */
  CHECK(symbolize_pc(s, inline_pc, again, 1) == 1);
  CHECK(again[0].function == l[0].function && again[0].line == l[0].line);

  /* The call_site frame itself is a real function of its own. */
  n = symbolize_pc(s, (uintptr_t)call_site + 1, l, 16);
  CHECK(n == 1 && strcmp(l[0].function, "call_site") == 0);

  /* libgrt code (from the static archive, so inside this executable). */
  n = symbolize_pc(s, (uintptr_t)grt_nanotime + 1, l, 16);
  print_chain("grt", l, n);
  CHECK(n >= 1 && strcmp(l[n - 1].function, "grt_nanotime") == 0);
  CHECK(ends_with(l[n - 1].file, "sched.c") && l[n - 1].line > 0);

  /* libc: DWARF if installed, else the ELF symbol (write or an alias).
   * Asked of libc itself: under ASan, &write is libasan's interceptor. */
  uintptr_t libc_write = loaded_symbol("libc.so.6", "write");
  n = symbolize_pc(s, libc_write + 1, l, 16);
  print_chain("libc", l, n);
  CHECK(n >= 1 && strstr(l[n - 1].function, "write"));

  /* zlib (linked in for the profiler; no debuginfo installed on Debian by
   * default): at least its ELF symbol. */
  n = symbolize_pc(s, loaded_symbol("libz.so.1", "crc32") + 1, l, 16);
  print_chain("zlib", l, n);
  CHECK(n >= 1 && strstr(l[n - 1].function, "crc32"));

  /* Nothing mapped there. */
  n = symbolize_pc(s, 0x10, l, 16);
  CHECK(n == 1 && strcmp(l[0].function, "?") == 0 && strcmp(l[0].file, "") == 0);
  CHECK(l[0].line == 0);
  CHECK(symbolize_pc(s, 0x10, l, 0) == 0);

  /* Mappings: sorted, executable code of this program and libc, with build
   * IDs; this program's equals the one in its notes. */
  const struct symbolize_mapping *m;
  int nm = symbolize_mappings(s, &m);
  CHECK(nm >= 2);
  for (int i = 0; i < nm; i++) {
    printf("map %#lx-%#lx %#llx %s %s\n", (unsigned long)m[i].start, (unsigned long)m[i].limit,
           (unsigned long long)m[i].offset, m[i].file, m[i].build_id);
    CHECK(m[i].start < m[i].limit);
    CHECK(i == 0 || m[i - 1].limit <= m[i].start);
    /* [vsyscall] and the like are no ELF modules: no build ID to claim. */
    if (m[i].file[0] == '[' && strcmp(m[i].file, "[vdso]") != 0) CHECK(m[i].build_id[0] == 0);
  }
  dl_iterate_phdr(find_exe_build_id, NULL);
  CHECK(is_hex40(exe_build_id));
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(len > 0);
  exe[len] = 0;
  const struct symbolize_mapping *me = mapping_of(m, nm, known_pc);
  CHECK(me && strcmp(me->file, exe) == 0);
  CHECK(strcmp(me->build_id, exe_build_id) == 0);
  const struct symbolize_mapping *libc = mapping_of(m, nm, libc_write);
  CHECK(libc && strstr(libc->file, "/libc.so"));
  CHECK(is_hex40(libc->build_id));

  symbolize_close(s);
  printf("ok\n");
  return 0;
}
