/*
 * grt-pprof - reads pprof profiles without a Go toolchain.
 *
 *   grt-pprof top [-n N] FILE
 *
 * prints the N functions (default 10) with the most CPU in the profile FILE
 * (gzipped or plain profile.proto, as grt writes it), with the columns of
 * `go tool pprof -top`: flat, flat%, sum%, cum, cum% and the name.  Code
 * the profile left without a name (a stripped library's static functions)
 * is named by the function that contains it, found in the mapping's file
 * (its .eh_frame_hdr, elf_fns.c): "libz.so.1.2.13+0x57e0", the function's
 * start as nm and `addr2line -e FILE` number it; where the file cannot
 * tell (gone, another build ID, no FDE there), by the library,
 * "[libz.so.1.2.13]", or the address.
 *
 * Exit status: 0; 1 if FILE cannot be read or is not a CPU profile (or the
 * table cannot be written); 2 for bad usage.  Each failure prints one line
 * on stderr.  It needs libc and zlib, not libgrt.  It reads the files the
 * profile's mappings name, as untrusted input like the profile.
 */
#define _GNU_SOURCE
#include "pprof_top.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE "usage: grt-pprof top [-n N] FILE"

enum { DEFAULT_N = 10 };

/* "grt-pprof: <what>; usage: ..." on stderr; returns the exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  fprintf(stderr, "grt-pprof: %s; " USAGE "\n", what);
  return 2;
}

/* N of -n: a whole number from 1 to INT_MAX; 0 if s is not one. */
static int parse_n(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!isdigit((unsigned char)s[0]) || *end || errno || v < 1 || v > INT_MAX) return 0;
  return (int)v;
}

static int cmd_top(int argc, char **argv) {
  int n = DEFAULT_N;
  const char *file = NULL;
  int options = 1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (options && strcmp(a, "--") == 0) {
      options = 0;
    } else if (options && strncmp(a, "-n", 2) == 0) {
      const char *v = a[2] ? a + 2 : argv[++i]; /* -n N or -nN */
      if (!v) return usage_error("-n needs a number");
      if (!(n = parse_n(v)))
        return usage_error("-n wants a whole number from 1 to %d, not \"%s\"", INT_MAX, v);
    } else if (options && a[0] == '-' && a[1]) {
      return usage_error("unknown option \"%s\"", a);
    } else if (file) {
      return usage_error("one FILE only, not also \"%s\"", a);
    } else {
      file = a;
    }
  }
  if (!file) return usage_error("no FILE");
  return pprof_top(file, n, 1) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, USAGE "\n");
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    printf(USAGE
           "\n"
           "  prints the N functions (default %d) with the most CPU in the pprof profile FILE,\n"
           "  as `go tool pprof -top` does; exit status 1 if FILE is not one, 2 for bad usage\n",
           DEFAULT_N);
    return 0;
  }
  if (strcmp(cmd, "top") == 0) return cmd_top(argc - 2, argv + 2);
  return usage_error("unknown command \"%s\"", cmd);
}
