/*
 * fork.c - what is left of the runtime in a child of fork() without exec:
 * nothing but plain C.  As in Go, grt supports fork only to exec.
 *
 * fork() copies one thread, the caller; the runtime's other threads (the
 * Ms, sysmon, the profiler's collector) do not exist in the child, yet the
 * copied scheduler still counts on them: Ps owned by missing Ms, locks they
 * held, Gs they were running, and one epoll instance whose events the
 * parent's poller takes.  So the child handler registered at sched_init
 * marks the runtime gone and makes the forking thread an ordinary thread
 * outside the runtime (TLS g = NULL):
 *   - Calls that need the scheduler, its threads or its poller refuse with
 *     -ENOTSUP (NULL, errno ENOTSUP), with one line on stderr the first time
 *     (sched_forked_refuse): grt_go, grt_callback, the network calls,
 *     grt_read_stats, grt_dump, grt_prof_start.
 *   - The rest acts as outside the runtime, where it needs no scheduler:
 *     grt_extcall calls fn directly, grt_sleep sleeps the thread, grt_yield
 *     is sched_yield, grt_chan_send/recv/select return -EPERM.
 *   - Nothing waits for the runtime: returning from the grt_extcall that
 *     forked does not look for a P (ext.c), a goroutine readied from the
 *     child is dropped (no goroutine runs there), no M is ever started, and
 *     grt_exit (or the return of the goroutine's function) ends the child
 *     with exit(0).
 * The switch routines put TLS g back as they return (from the extcall on
 * g0 to the goroutine's stack), so the places that come back into the
 * runtime after a fork (ext.c) clear it again.
 */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <pthread.h>

_Atomic int sched_forked_child;
static _Atomic int refused; /* the line was printed in this process */

static void fork_child(void) {
  atomic_store_explicit(&sched_forked_child, 1, memory_order_relaxed);
  atomic_store_explicit(&refused, 0, memory_order_relaxed); /* a grandchild says it again */
  setg(NULL);
}

void sched_fork_init(void) {
  pthread_atfork(NULL, NULL, fork_child);
}

int sched_forked_refuse(const char *call) {
  if (!atomic_exchange(&refused, 1))
    warn_line("grt: %s: the runtime does not survive fork() without exec; in the child, calls "
              "that need the scheduler return -ENOTSUP (exec, or use plain C)",
              call);
  return -ENOTSUP;
}
