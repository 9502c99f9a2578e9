/*
 * blockprof.h - the block and mutex profiles (blockprof.c).  The public
 * calls are in grt.h (grt_set_block_profile_rate, grt_block_profile_write,
 * grt_set_mutex_profile_fraction, grt_mutex_profile_write); these are the
 * hooks grt_main registers with the runtime (struct sched_hooks).
 */
#ifndef GRT_PPROF_BLOCKPROF_H
#define GRT_PPROF_BLOCKPROF_H

#include <stddef.h>
#include <stdint.h>

void blockprof_blocked(const char *reason, int64_t ns);
void blockprof_mutex_handoff(int64_t ns);

/* For /debug/pprof/block and /mutex (top/http.c), from any thread. */
enum blockprof_which { BLOCKPROF_BLOCK, BLOCKPROF_MUTEX };
int64_t blockprof_rate(enum blockprof_which which); /* block: ns; mutex: 1 in n; 0: off */
void blockprof_set_rate(enum blockprof_which which, int64_t rate);
/* The totals now, for a profile of what happens from here on. */
struct blockprof_mark {
  size_t n;
  double *count;
  int64_t *delay;
  int64_t since_mono, since_real;
};
int blockprof_mark(enum blockprof_which which, struct blockprof_mark *m); /* 0 or -ENOMEM */
void blockprof_mark_free(struct blockprof_mark *m);
/* The profile so far, less what it held at since (NULL: everything), to fd.
 * 0 or -errno. */
int blockprof_write(enum blockprof_which which, const struct blockprof_mark *since, int fd);

#endif
