/*
 * unit_symbolize_debuglink: a debug file named by the library's
 * .gnu_debuglink is found where gdb and elfutils look for one, beside the
 * library or in its .debug/ directory, and is used only if it is the
 * library's: the same build ID.  The symbolizer does that search itself
 * (elfutils' own one comes with debuginfod attached, which is off unless
 * GRT_DEBUGINFOD=1).
 *
 * A copy of the stripped library (tests/lib/sym_strip_lib.c) gets a
 * .gnu_debuglink to its debug file (objcopy --add-gnu-debuglink), is
 * loaded, and its static strip_spin is symbolized with the debug file in
 * .debug/ (named, with its file), beside it (named), in .debug/ with
 * another ELF file of the same name beside it (named: that one is passed
 * over for its build ID), and with that other file alone (not named).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "pprof/symbolize.h"

static char dir[] = "/tmp/grt_debuglink.XXXXXX";

__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  fflush(NULL);
  if (system(cmd) != 0) {
    fprintf(stderr, "failed: %s\n", cmd);
    CHECK(0);
  }
}

/* The innermost function at pc with a fresh symbolizer (each looks for the
 * debug file anew), and whether it has a source file. */
static const char *name_at(uintptr_t pc, int *has_file) {
  static char name[128];
  symbolizer *s = symbolize_open();
  CHECK(s);
  struct symbolize_line l[16];
  int n = symbolize_pc(s, pc, l, 16);
  CHECK(n >= 1);
  snprintf(name, sizeof name, "%s", l[0].function);
  *has_file = strstr(l[0].file, "sym_strip_lib.c") != NULL;
  printf("  %#lx: %s %s:%d\n", (unsigned long)pc, l[0].function, l[0].file, l[0].line);
  symbolize_close(s);
  return name;
}

int main(void) {
  CHECK(mkdtemp(dir));
  char lib[256];
  snprintf(lib, sizeof lib, "%s/libcopy.so", dir);
  sh("cp '%s' '%s'", SYM_STRIP_LIB, lib);
  sh(OBJCOPY " --add-gnu-debuglink='%s' '%s'", SYM_STRIP_DEBUG, lib);
  sh("mkdir '%s/.debug' && cp '" SYM_STRIP_DEBUG "' '%s/.debug/'", dir, dir);
  void *h = dlopen(lib, RTLD_NOW);
  CHECK(h);
  uintptr_t (*static_pc)(void) = (uintptr_t(*)(void))dlsym(h, "strip_lib_static_pc");
  CHECK(static_pc);
  uintptr_t pc = static_pc();
  const char *debug_name = strrchr(SYM_STRIP_DEBUG, '/') + 1;
  int has_file;

  printf("debug file in .debug/:\n");
  CHECK(strcmp(name_at(pc, &has_file), "strip_spin") == 0 && has_file);

  printf("debug file beside the library:\n");
  sh("mv '%s/.debug/%s' '%s/'", dir, debug_name, dir);
  CHECK(strcmp(name_at(pc, &has_file), "strip_spin") == 0 && has_file);

  /* Another ELF file by that name beside it (looked at first) is passed
   * over for the right one in .debug/; alone, it gives no name. */
  printf("another ELF file by that name beside it, the debug file in .debug/:\n");
  sh("mv '%s/%s' '%s/.debug/' && cp /proc/self/exe '%s/%s'", dir, debug_name, dir, dir, debug_name);
  CHECK(strcmp(name_at(pc, &has_file), "strip_spin") == 0 && has_file);
  printf("that other file alone:\n");
  sh("rm '%s/.debug/%s'", dir, debug_name);
  CHECK(strcmp(name_at(pc, &has_file), "strip_spin") != 0 && !has_file);

  dlclose(h);
  sh("rm -rf '%s'", dir);
  printf("ok\n");
  return 0;
}
