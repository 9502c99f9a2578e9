/*
 * labels.h - profiler label sets (labels.c; grt_labels_make in grt.h).
 *
 * labels_retain is inline and lock-free, so that the SIGPROF handler can
 * take a reference for each sample with one atomic increment and no call.
 */
#ifndef GRT_SAMPLER_LABELS_H
#define GRT_SAMPLER_LABELS_H

#include "grt.h"

#include <stdatomic.h>
#include <stdint.h>

struct grt_labels {
  _Atomic int64_t refs;
  int npairs;
  const char *kv[]; /* key, value, ..., NULL; the strings follow */
};

/* One more reference (NULL is a no-op).  Async-signal-safe. */
static inline void labels_retain(grt_labels *l) {
  if (l) atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

/* The set's "key", "value", ..., NULL array (NULL for NULL).
 * grt_labels_release drops a reference. */
const char *const *labels_kv(const grt_labels *l);

#endif
