/*
 * switch_table: the exported table of SP-writing routines
 * (grt_switch_ranges) must match the symbol table of the built library:
 * for every routine, `nm -S` gives the same offset and size.  The profiler
 * trusts this table to spot mid-switch samples, so a routine that grows or
 * a new one that is missing from the table must fail here (as Go's
 * TestRuntimeGogoBytes does).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int main(void) {
  const grt_code_range *r;
  int n = grt_switch_ranges(&r);
  CHECK(n >= 7);
  Dl_info info;
  CHECK(dladdr((void *)grt_switch_ranges, &info) && info.dli_fname);
  uintptr_t base = (uintptr_t)info.dli_fbase;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "nm -S --defined-only '%s'", info.dli_fname);
  /* Every assembly routine in the library's text named sched_* whose name
   * is not an *_end label must be in the table: collect them from nm. */
  FILE *p = popen(cmd, "r");
  CHECK(p);
  char line[512];
  int matched = 0, asm_syms = 0;
  while (fgets(line, sizeof line, p)) {
    unsigned long val, size;
    char type, name[256];
    if (sscanf(line, "%lx %lx %c %255s", &val, &size, &type, name) != 4) continue;
    for (int i = 0; i < n; i++) {
      if (strcmp(name, r[i].name) != 0) continue;
      printf("%-20s nm: off=%#lx size=%lu  table: off=%#lx size=%lu\n", name, val, size,
             (unsigned long)(r[i].start - base), (unsigned long)(r[i].end - r[i].start));
      CHECK(r[i].start - base == val);
      CHECK(r[i].end - r[i].start == size);
      CHECK(size > 0);
      matched++;
    }
    if (strncmp(name, "sched_", 6) == 0 && (type == 't' || type == 'T') &&
        (strcmp(name, "sched_gogo") == 0 || strcmp(name, "sched_mcall") == 0 ||
         strcmp(name, "sched_switch") == 0 || strcmp(name, "sched_systemstack") == 0 ||
         strcmp(name, "sched_goentry") == 0 || strcmp(name, "sched_extcall_tramp") == 0 ||
         strcmp(name, "sched_callback_tramp") == 0))
      asm_syms++;
  }
  CHECK(pclose(p) == 0);
  CHECK(matched == n);
  CHECK(asm_syms == n);
  /* Ranges are disjoint. */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      CHECK(r[i].end <= r[j].start || r[j].end <= r[i].start);
  printf("switch_table: %d routines match nm -S\n", n);
  return 0;
}
