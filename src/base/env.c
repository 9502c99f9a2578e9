/*
 * env.c - one parser for every GRT_* integer, so that they all accept the
 * same spellings and report a bad value the same way.
 */
#include "base/env.h"

#include "base/warn.h"

#include <errno.h>
#include <stdlib.h>

static bool parse(const char *name, const char *s, long lo, long hi, long *v, const char *if_bad) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  long n = strtol(s, &end, 10);
  if (errno || *end || end == s || n < lo || n > hi) {
    if (if_bad)
      warn_line("grt: %s=\"%s\" is not a whole number in %ld..%ld; %s", name, s, lo, hi, if_bad);
    return false;
  }
  *v = n;
  return true;
}

bool env_int(const char *name, long lo, long hi, long *v, const char *if_bad) {
  return parse(name, getenv(name), lo, hi, v, if_bad);
}
