/*
 * lock.h - the runtime's lowest primitives (lock.c): a futex mutex for short
 * critical sections (rt_lock), a one-shot futex wakeup (note), the monotonic
 * clock and a per-thread random source.
 *
 * Neither may be used in a signal handler: the interrupted code may hold the
 * lock, or be inside note_sleep.
 */
#ifndef GRT_BASE_LOCK_H
#define GRT_BASE_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

/* A one-shot wakeup for a sleeping thread (futex word). */
struct note {
  _Atomic uint32_t key;
};

/* A runtime lock (futex word): 0 unlocked, 1 locked, 2 locked with sleepers. */
typedef struct rt_lock_word {
  _Atomic uint32_t v;
} rt_lock;

/* The uncontended cases inline (one CAS, one exchange: every channel
 * operation takes a lock); lock.c has the rest. */
void rt_lock_acquire_slow(rt_lock *l);
void rt_lock_wake(rt_lock *l);
static inline void rt_lock_acquire(rt_lock *l) {
  uint32_t c = 0;
  if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
                                                               memory_order_relaxed),
                       1))
    return;
  rt_lock_acquire_slow(l);
}
static inline void rt_lock_release(rt_lock *l) {
  if (__builtin_expect(atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2, 0))
    rt_lock_wake(l);
}
void note_sleep(struct note *n, int64_t deadline_ns); /* deadline 0: forever */
void note_wakeup(struct note *n);
void note_clear(struct note *n);
int64_t nanotime(void);    /* CLOCK_MONOTONIC, ns */
int64_t realtime_ns(void); /* CLOCK_REALTIME, ns since the epoch (profiles' time stamps) */
uint32_t rt_fastrand(void);

#endif
