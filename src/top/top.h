/*
 * top.h - the top layer: grt_main (main.c) and what it starts from the
 * environment before the program's main runs.
 */
#ifndef GRT_TOP_H
#define GRT_TOP_H

#include <stdbool.h>

/* SIGQUIT: dump every goroutine to stderr, exit 2; with profiling (a
 * profile the environment started: GRT_CPUPROFILE, GRT_BLOCKPROFILE...),
 * SIGINT and SIGTERM write the profiles, then take their own action
 * (signals.c). */
void signals_install(bool profiling);

/* Writes the block, mutex and wall profiles the environment asked for
 * (main.c), once; the CPU profile is cpuprof_stop's. */
void top_profiles_flush(void);

/* GRT_PPROF_ADDR=host:port starts the /debug/pprof server (http.c).  A bad
 * value prints one line on stderr and the program runs on without it. */
void http_from_env(void);

#endif
