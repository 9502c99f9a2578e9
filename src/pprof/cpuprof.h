/*
 * cpuprof.h - the CPU profile's collector (cpuprof.c): grt_prof_start and
 * grt_prof_stop are in grt.h; these are for grt_main and the tests.
 */
#ifndef GRT_PPROF_CPUPROF_H
#define GRT_PPROF_CPUPROF_H

#include <stdbool.h>
#include <stdint.h>

/* Test hooks: stop the collector from draining (so rings fill and lose
 * samples), and the total weight the handler has taken in any session. */
void prof_test_stall_collector(bool stall);
uint64_t prof_test_handled_weight(void);

#endif
