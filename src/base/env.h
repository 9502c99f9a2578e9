/*
 * env.h - reading grt's environment variables, all by one rule (env.c).
 */
#ifndef GRT_BASE_ENV_H
#define GRT_BASE_ENV_H

#include <stdbool.h>

/*
 * The variable name as a whole number in lo..hi.  Unset or empty: returns
 * false, *v untouched.  Set and valid: *v = its value, true.  Set but not
 * a whole decimal number in range (garbage, trailing text, overflow): one
 * stderr line,
 *     grt: NAME="value" is not a whole number in lo..hi; if_bad
 * and false, *v untouched.  if_bad says what happens instead, e.g.
 * "using 4 (online CPUs)" or "CPU profiling off"; NULL: no line.
 */
bool env_int(const char *name, long lo, long hi, long *v, const char *if_bad);

/* The rule itself, with no line: s is an optional sign and decimal digits,
 * nothing else (no blanks), and its value is in lo..hi.  true: *v set. */
bool env_parse_int(const char *s, long lo, long hi, long *v);

#endif
