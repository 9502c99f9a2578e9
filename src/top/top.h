/*
 * top.h - the top layer: grt_main (main.c) and what it starts from the
 * environment before the program's main runs.
 */
#ifndef GRT_TOP_H
#define GRT_TOP_H

#include <stdbool.h>

/* SIGQUIT: dump every goroutine to stderr, exit 2; with profiling (a
 * profile GRT_CPUPROFILE started), SIGINT and SIGTERM write the profile,
 * then take their own action (signals.c). */
void signals_install(bool profiling);

/* GRT_PPROF_ADDR=host:port starts the /debug/pprof server (http.c).  A bad
 * value prints one line on stderr and the program runs on without it. */
void http_from_env(void);

#endif
