/*
 * cpuprof.h - the CPU profile's collector (cpuprof.c): grt_prof_start and
 * grt_prof_stop are in grt.h; these are for the HTTP server and the tests.
 */
#ifndef GRT_PPROF_CPUPROF_H
#define GRT_PPROF_CPUPROF_H

#include "grt.h"

#include <stdbool.h>
#include <stdint.h>

/* grt_prof_start and grt_prof_stop without their misuse lines, for the
 * /debug/pprof server, where a busy profiler is a client's 500, not the
 * program's mistake. */
int cpuprof_start(const grt_prof_config *cfg);
int cpuprof_stop(void);

/* Test hooks: stop the collector from draining (so rings fill and lose
 * samples), the total weight the handler has taken in any session, and
 * how many SIGPROFs it dropped for not coming from a kernel timer (kill(2)
 * and the like: no CPU time behind them). */
void prof_test_stall_collector(bool stall);
uint64_t prof_test_handled_weight(void);
uint64_t prof_test_foreign_signals(void);

#endif
