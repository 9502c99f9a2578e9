/*
 * warn.c - stderr lines and the fatal path.  Runs on any thread, in normal
 * code; the only state is the traceback printer, set once at start-up.
 */
#include "base/warn.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void (*_Atomic traceback)(void);

void warn_line(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(2, buf, n);
  (void)w;
}

void warn_set_traceback(void (*print)(void)) {
  atomic_store(&traceback, print);
}

void warn_fatal(const char *msg) {
  warn_line("grt: fatal error: %s", msg);
  void (*print)(void) = atomic_load(&traceback);
  if (print) print();
  abort();
}
