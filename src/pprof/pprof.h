/*
 * pprof.h - building a CPU profile in pprof's format (profile.proto,
 * hand-encoded, gzipped with zlib), readable by `go tool pprof`, Pyroscope
 * and Parca.
 *
 * A sample is a stack of code addresses, leaf first, each a call-site
 * address: the profiler passes the interrupted pc as is and every caller's
 * return address minus 1, so one address always means one source position.
 * Pseudo-frames (grt._System, ...) are the small PROF_PC_* values of
 * sampler/ring.h.
 *
 * Not async-signal-safe: the collector and the final write use it.
 */
#ifndef GRT_PPROF_PPROF_H
#define GRT_PPROF_PPROF_H

#include "pprof/symbolize.h"
#include "sampler/ring.h"

#include <stdint.h>

typedef struct pprof_writer pprof_writer;

/* period_ns: nanoseconds of CPU per sample at weight 1 (1e9 / hz).
 * time_nanos: wall-clock start (Unix ns).  NULL with errno on failure. */
pprof_writer *pprof_writer_new(int64_t period_ns, int64_t time_nanos);

/* A profile of one value per sample, type/unit (Go's goroutine profile:
 * "goroutine", "count"), which is also its period type, with the given
 * period.  pprof_writer_add then adds weight to that value alone.  type and
 * unit are borrowed: they must outlive the writer.  NULL with errno. */
pprof_writer *pprof_writer_new_count(const char *type, const char *unit, int64_t period,
                                     int64_t time_nanos);

/* A profile of two values per sample, types[i]/units[i] (block and mutex:
 * contentions/count and delay/nanoseconds; wall: samples/count and
 * wall/nanoseconds), whose period type is types[period_type].
 * pprof_writer_add2 adds to both values as given.  Strings are borrowed.
 * NULL with errno. */
pprof_writer *pprof_writer_new_pair(const char *const types[2], const char *const units[2],
                                    int period_type, int64_t period, int64_t time_nanos);

/* Adds weight to the sample (stack, labels): samples/count += weight and
 * cpu/nanoseconds += weight * period_ns.  Equal stacks with equal labels
 * aggregate into one sample.  labels: NULL, or "key", "value", ...,
 * NULL (copied).  0, or -ENOMEM / -EINVAL. */
int pprof_writer_add(pprof_writer *w, const uintptr_t *pcs, int npcs, const char *const *labels,
                     int64_t weight);
/* Adds v0 and v1 (both >= 0) to the sample's two values (one-value
 * writers ignore v1).  0, or -ENOMEM / -EINVAL. */
int pprof_writer_add2(pprof_writer *w, const uintptr_t *pcs, int npcs, const char *const *labels,
                      int64_t v0, int64_t v1);
/* pprof_writer_add2, and *id names the sample for pprof_writer_bump, which
 * adds to it again without looking the stack up (the wall profile's
 * goroutines that did not move since the last tick). */
int pprof_writer_add_id(pprof_writer *w, const uintptr_t *pcs, int npcs, const char *const *labels,
                        int64_t v0, int64_t v1, uint32_t *id);
void pprof_writer_bump(pprof_writer *w, uint32_t id, int64_t v0, int64_t v1);

/* Names the addresses of the samples added since the last call with s,
 * now, while their modules are loaded: a library unloaded before the
 * profile is written keeps its names (the collector calls it after each
 * drain).  Addresses s cannot name now are left for the write.  0 or
 * -ENOMEM. */
int pprof_writer_name_new(pprof_writer *w, symbolizer *s);

/* Adds a line to the profile's comments (`go tool pprof -comments`):
 * what the samples cannot say, such as threads that went unsampled.
 * Copied.  0, or -ENOMEM. */
int pprof_writer_comment(pprof_writer *w, const char *text);

/* Symbolizes every address with s (NULL: addresses only, no functions),
 * adds s's mappings, and writes the gzipped profile to fd with the given
 * duration.  0, or -errno. */
int pprof_writer_write(pprof_writer *w, symbolizer *s, int64_t duration_nanos, int fd);

void pprof_writer_free(pprof_writer *w);

#endif
