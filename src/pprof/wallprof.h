/*
 * wallprof.h - the goroutine wall-clock profile (wallprof.c).  The public
 * calls are grt_wallprof_start and grt_wallprof_stop (grt.h); these are
 * for grt_main's exit path, the /debug/pprof server and the tests.
 */
#ifndef GRT_PPROF_WALLPROF_H
#define GRT_PPROF_WALLPROF_H

#include <stdint.h>

#include "grt.h"

/* grt_wallprof_start and _stop without the misuse lines (-EBUSY: one is
 * running; -EINVAL: none is, or a bad cfg). */
int wallprof_start(const grt_prof_config *cfg);
int wallprof_stop(void);

/* What the profile's thread did so far (the last or current session). */
struct wallprof_stats {
  uint64_t ticks;
  uint64_t goroutine_samples; /* goroutines counted, over all ticks */
  uint64_t stacks_read;       /* of which had to be read (moved since their last tick) */
  int64_t cpu_ns;             /* the thread's CPU time */
};
void wallprof_stats(struct wallprof_stats *st);

#endif
