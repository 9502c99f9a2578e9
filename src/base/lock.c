/*
 * lock.c - the runtime's own low-level primitives: a futex mutex for short
 * critical sections (rt_lock), a one-shot futex wakeup for sleeping Ms
 * (note), the monotonic clock and a per-thread random source.
 *
 * rt_lock is Drepper's three-state futex mutex: 0 unlocked, 1 locked, 2
 * locked with sleepers.  It blocks the OS thread, so it is only held for a
 * few instructions and never across a goroutine switch.  Never take one in
 * a signal handler: the interrupted code may hold it.
 */
#include "base/lock.h"

#include "arch.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
}

/* rt_lock_acquire (lock.h) found the lock taken: spin a little, then
 * sleep on the futex. */
void rt_lock_acquire_slow(rt_lock *l) {
  uint32_t c = 0;
  for (int spin = 0; spin < 64; spin++) {
    c = 0;
    if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
                                              memory_order_relaxed))
      return;
    arch_pause();
  }
  if (c != 2) c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
  while (c != 0) {
    futex(&l->v, FUTEX_WAIT, 2, NULL);
    c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
  }
}

/* rt_lock_release (lock.h) saw sleepers: wake one. */
void rt_lock_wake(rt_lock *l) {
  futex(&l->v, FUTEX_WAKE, 1, NULL);
}

int64_t nanotime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps until note_wakeup or the absolute CLOCK_MONOTONIC deadline.  A
 * wakeup that came first makes it return at once.  Callers recheck their
 * state after every return: spurious returns are allowed. */
void note_sleep(struct note *n, int64_t deadline_ns) {
  while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
    if (deadline_ns == 0) {
      futex(&n->key, FUTEX_WAIT, 0, NULL);
      continue;
    }
    int64_t left = deadline_ns - nanotime();
    if (left <= 0) return;
    struct timespec ts = {left / 1000000000, left % 1000000000};
    if (futex(&n->key, FUTEX_WAIT, 0, &ts) < 0 && errno == ETIMEDOUT) return;
  }
}

void note_wakeup(struct note *n) {
  if (atomic_exchange_explicit(&n->key, 1, memory_order_release) == 0)
    futex(&n->key, FUTEX_WAKE, 1, NULL);
}

void note_clear(struct note *n) {
  atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

/* wyrand: fast, good enough for steal order and select's case order. */
uint32_t rt_fastrand(void) {
  static __thread uint64_t state;
  if (state == 0) state = (uint64_t)nanotime() ^ ((uint64_t)(uintptr_t)&state << 16) ^ 1;
  state += 0xa0761d6478bd642fULL;
  __uint128_t t = (__uint128_t)state * (state ^ 0xe7037ed1a0b428dbULL);
  return (uint32_t)((t >> 64) ^ t);
}
