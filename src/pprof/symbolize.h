/*
 * symbolize.h - turning code addresses of this process into functions, files
 * and lines (elfutils libdw), and listing its executable mappings with their
 * GNU build IDs, for the pprof writer.
 *
 * Not async-signal-safe and not thread-safe: the collector uses one
 * instance while profiling and the final write another; never a handler.
 *
 * Safe against modules that go away or change: an address is looked up
 * only in a library or executable the dynamic loader has loaded now
 * (code it did not map, such as a JIT's, is unknown), through a snapshot
 * of the modules taken again after any dlopen or dlclose, and a fault
 * reading a module's file (SIGBUS: the file was truncated under its
 * mapping) is caught, reported once on stderr, and makes that module's
 * addresses unknown.
 */
#ifndef GRT_PPROF_SYMBOLIZE_H
#define GRT_PPROF_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

/* One source position.  Strings are owned by the symbolizer and live until
 * symbolize_close. */
struct symbolize_line {
  const char *function; /* "?" when unknown */
  const char *file;     /* "" when unknown */
  int line;             /* 0 when unknown */
};

/* An executable mapping of this process (from /proc/self/maps). */
struct symbolize_mapping {
  uintptr_t start, limit; /* [start, limit) */
  uint64_t offset;        /* file offset of start */
  const char *file;       /* path, or "[vdso]" etc. */
  char build_id[65];      /* lowercase hex of the GNU build ID; "" if none */
};

typedef struct symbolizer symbolizer;

/* Takes a snapshot of the process's modules (taken again when the loaded
 * libraries change).  NULL with errno on failure. */
symbolizer *symbolize_open(void);

/* Symbolizes a call-site address.  Fills lines[0..n) innermost first: with
 * inlining, lines[0] is the inlined function and the last entry the real
 * function it was inlined into (pprof's Location.line order).  Returns n
 * (at least 1: an unknown address gives one line with function "?"), at
 * most max. */
int symbolize_pc(symbolizer *s, uintptr_t pc, struct symbolize_line *lines, int max);

/* The executable mappings, in address order.  Returns their count. */
int symbolize_mappings(symbolizer *s, const struct symbolize_mapping **out);

void symbolize_close(symbolizer *s);

/* Whether libdw may ask debuginfod servers (DEBUGINFOD_URLS) for the debug
 * files it finds no copy of on this machine.  Off by default: a profiler
 * does not go on the network unless the user asks (GRT_DEBUGINFOD=1, which
 * src/top reads).  Applies to lookups made from then on, by any instance. */
void symbolize_set_debuginfod(bool on);

/* Test hook: trust the snapshot of the modules (skip the check that an
 * address's module is still loaded), so libdw reads whatever file the
 * snapshot names and the fault guard alone protects the caller. */
void symbolize_test_trust_snapshot(bool on);

#endif
