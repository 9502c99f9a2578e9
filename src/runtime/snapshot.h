/*
 * snapshot.h - every goroutine's state and stack, read without stopping the
 * world (snapshot.c).  The goroutine dumps and profiles (src/pprof/
 * goroutines.c) format what this collects.
 */
#ifndef GRT_RUNTIME_SNAPSHOT_H
#define GRT_RUNTIME_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct g;

#define SNAP_MAX_FRAMES 100 /* as Go's traceback; deeper stacks are elided */

enum snap_kind {
  SNAP_FRAMES,    /* the stack was read */
  SNAP_ELSEWHERE, /* running on another thread */
  SNAP_MOVED,     /* kept switching while we read it */
};

struct gsnap {
  uint64_t id;
  const char *state; /* a string literal: the waitreason, "running", ... */
  char name[32];
  bool locked, elided, self;
  enum snap_kind kind;
  uintptr_t gopc;    /* return address of the grt_go that created it, 0: none */
  uint64_t parentid; /* the goroutine that created it, 0: none */
  int64_t waited_ns; /* how long it has been waiting (waiting ones), else 0 */
  size_t first;      /* its frames are snap.pcs[first .. first + n): call sites, leaf first */
  int n;
};

struct snap {
  struct gsnap *gs; /* the caller's goroutine first, then by id */
  size_t ng, gcap;
  uintptr_t *pcs;
  size_t npcs, pcap;
};

/* Fills s (zeroed by the caller) with every live goroutine.  self: the
 * goroutine asking (inside grt_extcall while this runs), or NULL.
 * 0 or -ENOMEM; snap_free(s) either way. */
int snap_collect(struct snap *s, struct g *self);
void snap_free(struct snap *s);

/* One goroutine at a time (the wall profile, which walks sched_allg
 * itself): appends gp to s as snap_collect would (nothing for an idle or
 * dead one).  A reader holds the stack window; 0 or -ENOMEM. */
struct snap_reader;
struct snap_reader *snap_reader_new(void); /* NULL: out of memory */
void snap_reader_free(struct snap_reader *r);
int snap_goroutine(struct snap *s, struct snap_reader *r, struct g *gp);

#endif
