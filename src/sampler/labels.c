/*
 * labels.c - profiler label sets (Go's pprof.Labels / pprof.Do).
 *
 * Invariants:
 *  - A set never changes after grt_labels_make (or a merge) returns it; its
 *    pairs are sorted by key with unique keys, so equal sets have equal kv
 *    arrays and aggregate into one pprof sample.
 *  - Every pointer to a set that the runtime keeps holds one reference:
 *    g->labels (taken when stored, dropped after it is replaced or the G
 *    exits), grt_prof_do's saved set, and each ring record (taken by the
 *    SIGPROF handler on the G's own thread, dropped by the collector).
 *  - The handler only ever increments, with one lock-free atomic, a set
 *    that its interrupted thread holds a reference to (m->curg's): that
 *    thread cannot drop it while interrupted.  Only normal code frees.
 */
#define _GNU_SOURCE
#include "sampler/labels.h"

#include "runtime/runtime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A new set (one reference) of npairs pairs from kv, sorted with unique
 * keys: for equal keys, the later pair wins. */
static grt_labels *labels_build(const char *const *kv, int npairs) {
  /* Sort indexes (insertion sort: sets are small), later wins on ties. */
  int *idx = malloc(((size_t)npairs + 1) * sizeof *idx);
  if (!idx) return NULL;
  int n = 0;
  size_t bytes = 0;
  for (int i = 0; i < npairs; i++) {
    const char *key = kv[2 * i];
    int at = 0;
    while (at < n && strcmp(kv[2 * idx[at]], key) < 0)
      at++;
    if (at < n && strcmp(kv[2 * idx[at]], key) == 0) {
      idx[at] = i;
      continue;
    }
    memmove(idx + at + 1, idx + at, (size_t)(n - at) * sizeof *idx);
    idx[at] = i;
    n++;
  }
  for (int i = 0; i < n; i++)
    bytes += strlen(kv[2 * idx[i]]) + strlen(kv[2 * idx[i] + 1]) + 2;
  grt_labels *l = malloc(sizeof *l + (2 * (size_t)n + 1) * sizeof(char *) + bytes);
  if (!l) {
    free(idx);
    return NULL;
  }
  atomic_init(&l->refs, 1);
  l->npairs = n;
  char *str = (char *)&l->kv[2 * n + 1];
  for (int i = 0; i < 2 * n; i++) {
    const char *src = kv[2 * idx[i / 2] + i % 2];
    size_t len = strlen(src) + 1;
    memcpy(str, src, len);
    l->kv[i] = str;
    str += len;
  }
  l->kv[2 * n] = NULL;
  free(idx);
  return l;
}

grt_labels *grt_labels_make(const char *key, const char *value, ...) {
  va_list ap;
  int npairs = 0, cap = 8;
  const char **kv = malloc((size_t)cap * sizeof *kv);
  if (!kv) {
    errno = ENOMEM;
    return NULL;
  }
  va_start(ap, value);
  while (key) {
    if (!*key || !value) {
      va_end(ap);
      free(kv);
      warn_line("grt: grt_labels_make: %s", !*key ? "a key is empty" : "a value is NULL");
      errno = EINVAL;
      return NULL;
    }
    if (2 * npairs + 2 > cap) {
      cap *= 2;
      const char **bigger = realloc(kv, (size_t)cap * sizeof *kv);
      if (!bigger) {
        va_end(ap);
        free(kv);
        errno = ENOMEM;
        return NULL;
      }
      kv = bigger;
    }
    kv[2 * npairs] = key;
    kv[2 * npairs + 1] = value;
    npairs++;
    key = va_arg(ap, const char *);
    if (key) value = va_arg(ap, const char *);
  }
  va_end(ap);
  grt_labels *l = labels_build(kv, npairs);
  free(kv);
  if (!l) errno = ENOMEM;
  return l;
}

void grt_labels_release(grt_labels *l) {
  if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1) free(l);
}

const char *const *labels_kv(const grt_labels *l) {
  return l ? l->kv : NULL;
}

/* outer's pairs with add's on top (a new reference either way). */
static grt_labels *labels_merge(grt_labels *outer, grt_labels *add) {
  if (!outer || outer->npairs == 0 || outer == add) {
    labels_retain(add);
    return add;
  }
  if (!add || add->npairs == 0) {
    labels_retain(outer);
    return outer;
  }
  int npairs = outer->npairs + add->npairs;
  const char **kv = malloc(2 * (size_t)npairs * sizeof *kv);
  if (!kv) return NULL;
  memcpy(kv, outer->kv, 2 * (size_t)outer->npairs * sizeof *kv);
  memcpy(kv + 2 * outer->npairs, add->kv, 2 * (size_t)add->npairs * sizeof *kv);
  grt_labels *l = labels_build(kv, npairs);
  free(kv);
  return l;
}

void grt_prof_do(grt_labels *l, void (*fn)(void *), void *arg) {
  if (!fn) {
    warn_line("grt: grt_prof_do: fn is NULL");
    return;
  }
  struct g *gp = getcurg();
  if (!gp) {
    fn(arg);
    return;
  }
  grt_labels *outer = gp->labels; /* its reference moves to this frame */
  grt_labels *inner = labels_merge(outer, l);
  if (!inner && l) {
    warn_line("grt: grt_prof_do: out of memory; running without the new labels");
    fn(arg);
    return;
  }
  /* The G's field always points at a set it holds a reference to: store
   * the new (already referenced) one, run, store the old one back, and
   * only then drop the new one. */
  gp->labels = inner;
  atomic_signal_fence(memory_order_seq_cst);
  fn(arg);
  gp->labels = outer;
  atomic_signal_fence(memory_order_seq_cst);
  grt_labels_release(inner);
}
