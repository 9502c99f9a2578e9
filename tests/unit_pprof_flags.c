/*
 * unit_pprof_flags: a mapping's has_* flags claim only what holds for
 * every location in it, read back with the real `go tool pprof -raw`.
 * pprof never re-symbolizes a mapping with a flag set (its
 * symbolizer.go), so a flag set on a mapping with an unnamed pc would hide
 * that pc from PPROF_BINARY_PATH, Parca and Pyroscope for good.
 *   - This program (DWARF): [FN][FL][LN][IN].
 *   - The stripped library (tests/lib/sym_strip_lib.c), exported function
 *     only (named by .dynsym, no file or line): [FN] alone.
 *   - The same with a pc in its static function, which nothing here can
 *     name: no flag; that location keeps its address and mapping, has no
 *     line (no made-up "[libgrt_sym_strip.so]" function), and the mapping
 *     keeps its file name and build ID.
 * Skips (77) when `go` is not on PATH.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "pprof/pprof.h"

uint64_t strip_lib_burn(uint64_t n);
uintptr_t strip_lib_static_pc(void);
uintptr_t strip_lib_exported_pc(void);

__attribute__((noinline)) int exe_fn(int x) {
  asm volatile("" : "+r"(x));
  return x * 3;
}

/* The flags of the Mappings line containing text ("" when it has none). */
static const char *flags_of(const struct pprof_raw *r, const char *text) {
  const char *line = pprof_mapping_line(r, text);
  if (!line) {
    fprintf(stderr, "no mapping line with %s\n", text);
    CHECK(0);
  }
  const char *f = strchr(line, '[');
  return f ? f : "";
}

/* Writes one sample per pc with s and reads the profile back into r. */
static void write_profile(symbolizer *s, const uintptr_t *pcs, int n, const char *name,
                          struct pprof_raw *r) {
  pprof_writer *w = pprof_writer_new(10000000, 0);
  CHECK(w);
  for (int i = 0; i < n; i++)
    CHECK(pprof_writer_add(w, &pcs[i], 1, NULL, 1) == 0);
  char path[256], file[64];
  snprintf(file, sizeof file, "%s.pb.gz", name);
  snprintf(path, sizeof path, "%s", pprof_path(file));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(pprof_writer_write(w, s, 1000000000, fd) == 0);
  CHECK(close(fd) == 0);
  pprof_writer_free(w);
  pprof_load(path, r);
  for (int i = 0; i < r->nmappings; i++)
    printf("  %s\n", r->mappings[i]);
}

static const struct pprof_loc *loc_at(const struct pprof_raw *r, uintptr_t pc) {
  for (int i = 0; i < r->nlocs; i++)
    if (r->locs[i].addr == pc) return &r->locs[i];
  return NULL;
}

int main(void) {
  pprof_skip_without_go();
  CHECK(exe_fn(1) == 3 && strip_lib_burn(10) != 0);
  symbolizer *s = symbolize_open();
  CHECK(s);
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(len > 0);
  exe[len] = 0;
  uintptr_t exe_pc = (uintptr_t)exe_fn + 1, exported_pc = strip_lib_exported_pc(),
            static_pc = strip_lib_static_pc();

  /* The library's build ID, as the symbolizer lists its mapping. */
  const struct symbolize_mapping *m;
  int nm = symbolize_mappings(s, &m);
  const char *lib_build_id = NULL;
  for (int i = 0; i < nm; i++)
    if (m[i].start <= static_pc && static_pc < m[i].limit) lib_build_id = m[i].build_id;
  CHECK(lib_build_id && strlen(lib_build_id) == 40);

  /* Every pc named: this program with file and line, the library's
   * exported function by its .dynsym entry only. */
  struct pprof_raw r;
  printf("named pcs only:\n");
  write_profile(s, (uintptr_t[]){exe_pc, exported_pc}, 2, "named", &r);
  CHECK(strcmp(flags_of(&r, exe), "[FN][FL][LN][IN]") == 0);
  CHECK(strcmp(flags_of(&r, "libgrt_sym_strip.so"), "[FN]") == 0);
  CHECK(strcmp(pprof_loc_fn(loc_at(&r, exported_pc)), "strip_lib_burn") == 0);
  pprof_free(&r);

  /* One pc in the library unnamed: the library claims nothing, and the
   * pc is an address in its mapping, with no line. */
  printf("with an unnamed pc:\n");
  write_profile(s, (uintptr_t[]){exe_pc, exported_pc, static_pc}, 3, "unnamed", &r);
  CHECK(strcmp(flags_of(&r, exe), "[FN][FL][LN][IN]") == 0);
  CHECK(strcmp(flags_of(&r, "libgrt_sym_strip.so"), "") == 0);
  CHECK(strstr(pprof_mapping_line(&r, "libgrt_sym_strip.so"), lib_build_id));
  const struct pprof_loc *l = loc_at(&r, static_pc);
  CHECK(l && l->nlines == 0);
  CHECK(l->mapping == pprof_mapping_id(&r, "libgrt_sym_strip.so"));
  CHECK(strcmp(pprof_loc_fn(loc_at(&r, exported_pc)), "strip_lib_burn") == 0);
  pprof_free(&r);

  symbolize_close(s);
  printf("ok\n");
  return 0;
}
