/*
 * cpuprof.h - the CPU profiler's hooks into the runtime (cpuprof.c).
 *
 * The scheduler calls these at the points where a thread starts or stops
 * being an M, so that every thread that can run goroutine code has its
 * CPU timer while a profile runs.
 */
#ifndef GRT_PROF_CPUPROF_H
#define GRT_PROF_CPUPROF_H

#include "grt.h"

#include <stdbool.h>
#include <stdint.h>

struct m;

/* On mp's own thread, once it is bound (m->tid set): arms its timer if a
 * profile is running.  Cheap when nothing changed (every callback entry
 * of an extra M calls it). */
void prof_m_started(struct m *mp);

/* On mp's own thread, before it stops being an M (an extra M given back at
 * thread exit): deletes its timer. */
void prof_m_exiting(struct m *mp);

/* From grt_main: GRT_CPUPROFILE / GRT_CPUPROFILE_HZ. */
void prof_start_from_env(void);

/* Test hooks: stop the collector from draining (so rings fill and lose
 * samples), and the total weight the handler has taken in any session. */
void prof_test_stall_collector(bool stall);
uint64_t prof_test_handled_weight(void);

/* Label sets (labels.c): one more reference (NULL is a no-op; lock-free,
 * so the signal handler may take one), and the set's "key", "value", ...,
 * NULL array (NULL for NULL).  grt_labels_release drops a reference. */
void prof_labels_retain(grt_labels *l);
const char *const *prof_labels_kv(const grt_labels *l);

#endif
