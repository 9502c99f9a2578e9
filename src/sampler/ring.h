/*
 * ring.h - where the SIGPROF handler leaves its samples for the collector
 * (ring.c), as Go's profbuf.go: one single-producer, single-consumer ring
 * per M, plus shared slots for threads that have no M.
 *
 * A sample is a stack of code addresses, leaf first: the interrupted pc as
 * is, then every caller's return address minus 1 (a call site).  Addresses
 * below PROF_PC_PSEUDO_LIMIT are pseudo-frames.
 *
 * The ring (struct prof_ring):
 *  - Writer: the handler on the M's own thread, the only one.  It reads
 *    tail (acquire), writes the record's words, then publishes head
 *    (release).  A record that does not fit is not written: its weight is
 *    added to lost (relaxed; only totals matter).
 *  - Reader: the collector, the only one.  It reads head (acquire), reads
 *    the records up to it, then publishes tail (release) so the writer may
 *    reuse the words.
 *  - A record: header (gen << 32 | n), weight, labels pointer; then n
 *    pcs.
 *    Words wrap around words[].
 *  - The labels pointer carries one reference, taken by the writer and
 *    dropped by the reader; a sample counted lost takes none.
 *
 * The shared slots: a writer claims one with a CAS (FREE -> BUSY), fills
 * it, and marks it FULL (release); the reader takes FULL slots (acquire)
 * and frees them.  Every slot busy: the sample's weight goes to the
 * caller's lost counter.
 *
 * ring_put and shared_put run in the handler: no allocation, no lock, no
 * stdio.  The readers run on the collector thread.
 */
#ifndef GRT_SAMPLER_RING_H
#define GRT_SAMPLER_RING_H

#include "grt.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
  PROF_PC_SYSTEM = 1,       /* grt._System */
  PROF_PC_EXTERNAL = 2,     /* grt._ExternalCode */
  PROF_PC_LOST = 3,         /* grt._LostSamples */
  PROF_PC_TRUNCATED = 4,    /* grt._Truncated */
  PROF_PC_PSEUDO_LIMIT = 16 /* addresses below this are pseudo-frames */
};

#define PROF_MAX_FRAMES 64 /* real frames per sample; then grt._Truncated */
#define RING_WORDS 8192    /* 64 KiB per M: seconds of samples at 10 kHz */
#define RING_HEADER 3      /* gen|n, weight, labels */
#define SHARED_SLOTS 256

/* A sample under construction, on the signal stack. */
struct ring_sample {
  int n;
  uintptr_t pcs[PROF_MAX_FRAMES + 2];
};

struct prof_ring {
  _Atomic uint64_t head;
  char pad1[56];
  _Atomic uint64_t tail;
  char pad2[56];
  _Atomic uint64_t lost; /* weight of samples dropped because the ring was full */
  uint64_t words[RING_WORDS];
};

/* Handler side.  ring_put retains labels for the record it writes. */
void ring_put(struct prof_ring *r, uint32_t gen, const struct ring_sample *s, uint64_t weight,
              grt_labels *labels);
/* false: every slot busy (nothing written). */
bool shared_put(uint32_t gen, const struct ring_sample *s, uint64_t weight, unsigned start);

/* Collector side: each record, oldest first.  labels carries the
 * record's reference, which the callee owns. */
typedef void (*ring_sink)(void *ctx, uint32_t gen, uintptr_t *pcs, int n, uint64_t weight,
                          grt_labels *labels);
/* Drains r, adding the weight it lost since the last drain to *lost.
 * false: a record is malformed (the ring is corrupted; a broken invariant). */
bool ring_drain(struct prof_ring *r, ring_sink sink, void *ctx, uint64_t *lost);
void shared_drain(ring_sink sink, void *ctx);

#endif
