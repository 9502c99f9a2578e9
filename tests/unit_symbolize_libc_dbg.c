/*
 * unit_symbolize_libc_dbg: with Debian's libc6-dbg installed, the
 * symbolizer names glibc's static functions, which libc.so.6 itself does
 * not (it is stripped down to its exported symbols): its debug file is
 * found under /usr/lib/debug/.build-id by libc's build ID.  The pc is a
 * return address inside qsort's static msort_with_tmp, taken by the
 * comparator it calls.  Skips (77) when /usr/lib/debug/.build-id has no
 * file for this libc's build ID (libc6-dbg not installed, or another
 * version than libc6's).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "pprof/symbolize.h"

static uintptr_t cmp_caller; /* a call site inside the function calling cmp */

__attribute__((noinline)) static int cmp(const void *a, const void *b) {
  cmp_caller = (uintptr_t)__builtin_return_address(0) - 1;
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

int main(void) {
  /* libc's own qsort: under ASan, qsort is an interceptor that calls cmp
   * from a wrapper of its own. */
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  CHECK(libc);
  void (*libc_qsort)(void *, size_t, size_t, int (*)(const void *, const void *)) =
      (void (*)(void *, size_t, size_t, int (*)(const void *, const void *)))dlsym(libc, "qsort");
  CHECK(libc_qsort);
  int v[64];
  for (int i = 0; i < 64; i++)
    v[i] = (i * 37) % 64;
  libc_qsort(v, 64, sizeof *v, cmp);
  for (int i = 0; i < 64; i++)
    CHECK(v[i] == i);
  CHECK(cmp_caller);

  symbolizer *s = symbolize_open();
  CHECK(s);
  const struct symbolize_mapping *m;
  int nm = symbolize_mappings(s, &m);
  const char *build_id = NULL;
  for (int i = 0; i < nm; i++)
    if (m[i].start <= cmp_caller && cmp_caller < m[i].limit) {
      printf("caller's mapping: %s %s\n", m[i].file, m[i].build_id);
      CHECK(strstr(m[i].file, "/libc.so"));
      build_id = m[i].build_id;
    }
  CHECK(build_id && strlen(build_id) >= 4);
  char debug[256];
  snprintf(debug, sizeof debug, "/usr/lib/debug/.build-id/%.2s/%s.debug", build_id, build_id + 2);
  if (access(debug, R_OK) != 0) {
    printf("SKIP: no %s (Debian: apt-get install libc6-dbg)\n", debug);
    return 77;
  }

  struct symbolize_line l[16];
  int n = symbolize_pc(s, cmp_caller, l, 16);
  for (int i = 0; i < n; i++)
    printf("qsort's caller of cmp [%d]: %s %s:%d\n", i, l[i].function, l[i].file, l[i].line);
  /* The out-of-line function is last; its DWARF name, not the clone's
   * (msort_with_tmp.part.0) symbol. */
  CHECK(n >= 1 && strcmp(l[n - 1].function, "msort_with_tmp") == 0);
  CHECK(ends_with(l[n - 1].file, "msort.c") && l[n - 1].line > 0);
  symbolize_close(s);
  printf("ok\n");
  return 0;
}
