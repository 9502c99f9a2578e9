/*
 * ring.c - the sample rings and shared slots (invariants in ring.h).
 *
 * Two execution contexts, one per side of each structure: ring_put and
 * shared_put run in the SIGPROF handler (async-signal-safe: atomics and
 * plain stores only; tests/sigsafe.sh checks this object's undefined
 * symbols), ring_drain and shared_drain on the collector thread.
 */
#include "sampler/ring.h"

#include "sampler/labels.h"

static struct shared_slot {
  _Atomic uint32_t state;
  uint32_t n;
  uint32_t gen;
  uint64_t weight;
  uintptr_t pcs[PROF_MAX_FRAMES + 2];
} shared_slots[SHARED_SLOTS];

enum { SLOT_FREE, SLOT_BUSY, SLOT_FULL };

void ring_put(struct prof_ring *r, uint32_t gen, const struct ring_sample *s, uint64_t weight,
              grt_labels *labels) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  uint64_t len = RING_HEADER + (uint64_t)s->n;
  if (RING_WORDS - (head - tail) < len) {
    atomic_fetch_add_explicit(&r->lost, weight, memory_order_relaxed);
    return;
  }
  labels_retain(labels);
  r->words[head % RING_WORDS] = (uint64_t)gen << 32 | (uint32_t)s->n;
  r->words[(head + 1) % RING_WORDS] = weight;
  r->words[(head + 2) % RING_WORDS] = (uint64_t)(uintptr_t)labels;
  uint64_t at = head + RING_HEADER;
  for (int i = 0; i < s->n; i++)
    r->words[at++ % RING_WORDS] = s->pcs[i];
  atomic_store_explicit(&r->head, head + len, memory_order_release);
}

/* The first free slot from start on (the caller picks start by thread id,
 * so concurrent writers rarely collide). */
bool shared_put(uint32_t gen, const struct ring_sample *s, uint64_t weight, unsigned start) {
  for (unsigned i = 0; i < SHARED_SLOTS; i++) {
    struct shared_slot *slot = &shared_slots[(start + i) % SHARED_SLOTS];
    uint32_t expect = SLOT_FREE;
    if (!atomic_compare_exchange_strong(&slot->state, &expect, SLOT_BUSY)) continue;
    slot->gen = gen;
    slot->n = (uint32_t)s->n;
    slot->weight = weight;
    for (int k = 0; k < s->n; k++)
      slot->pcs[k] = s->pcs[k];
    atomic_store_explicit(&slot->state, SLOT_FULL, memory_order_release);
    return true;
  }
  return false;
}

bool ring_drain(struct prof_ring *r, ring_sink sink, void *ctx, uint64_t *lost) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  uintptr_t pcs[PROF_MAX_FRAMES + 2];
  while (tail != head) {
    uint64_t h0 = r->words[tail % RING_WORDS];
    uint64_t weight = r->words[(tail + 1) % RING_WORDS];
    grt_labels *labels = (grt_labels *)(uintptr_t)r->words[(tail + 2) % RING_WORDS];
    uint32_t n = (uint32_t)h0;
    uint64_t len = RING_HEADER + (uint64_t)n;
    if (n > PROF_MAX_FRAMES + 1 || head - tail < len) return false;
    uint64_t at = tail + RING_HEADER;
    for (uint32_t i = 0; i < n; i++)
      pcs[i] = r->words[at++ % RING_WORDS];
    sink(ctx, (uint32_t)(h0 >> 32), pcs, (int)n, weight, labels);
    tail += len;
  }
  atomic_store_explicit(&r->tail, tail, memory_order_release);
  *lost += atomic_exchange_explicit(&r->lost, 0, memory_order_relaxed);
  return true;
}

void shared_drain(ring_sink sink, void *ctx) {
  uintptr_t pcs[PROF_MAX_FRAMES + 3];
  for (int i = 0; i < SHARED_SLOTS; i++) {
    struct shared_slot *slot = &shared_slots[i];
    if (atomic_load_explicit(&slot->state, memory_order_acquire) != SLOT_FULL) continue;
    for (uint32_t k = 0; k < slot->n; k++)
      pcs[k] = slot->pcs[k];
    sink(ctx, slot->gen, pcs, (int)slot->n, slot->weight, NULL);
    atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
  }
}
