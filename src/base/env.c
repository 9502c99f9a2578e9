/*
 * env.c - one parser for every GRT_* integer (and the /debug/pprof query
 * integers), so that they all accept the same spellings, and one way to
 * report a bad value.
 */
#include "base/env.h"

#include "base/warn.h"

#include <errno.h>
#include <stdlib.h>

bool env_parse_int(const char *s, long lo, long hi, long *v) {
  /* strtol alone would also take leading blanks, and stop at trailing text. */
  if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+')) return false;
  char *end;
  errno = 0;
  long n = strtol(s, &end, 10);
  if (errno || *end || end == s || n < lo || n > hi) return false;
  *v = n;
  return true;
}

static bool parse(const char *name, const char *s, long lo, long hi, long *v, const char *if_bad) {
  if (!s || !*s) return false;
  if (!env_parse_int(s, lo, hi, v)) {
    if (if_bad)
      warn_line("grt: %s=\"%s\" is not a whole number in %ld..%ld; %s", name, s, lo, hi, if_bad);
    return false;
  }
  return true;
}

bool env_int(const char *name, long lo, long hi, long *v, const char *if_bad) {
  return parse(name, getenv(name), lo, hi, v, if_bad);
}
