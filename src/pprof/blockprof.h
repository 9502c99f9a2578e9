/*
 * blockprof.h - the block and mutex profiles (blockprof.c).  The public
 * calls are in grt.h (grt_set_block_profile_rate, grt_block_profile_write,
 * grt_set_mutex_profile_fraction, grt_mutex_profile_write); these are the
 * hooks grt_main registers with the runtime (struct sched_hooks).
 */
#ifndef GRT_PPROF_BLOCKPROF_H
#define GRT_PPROF_BLOCKPROF_H

#include <stdint.h>

void blockprof_blocked(const char *reason, int64_t ns);
void blockprof_mutex_handoff(int64_t ns);

#endif
