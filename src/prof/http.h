/*
 * http.h - the /debug/pprof HTTP server (http.c, grt_pprof_serve): its hook
 * into grt_main.
 */
#ifndef GRT_PROF_HTTP_H
#define GRT_PROF_HTTP_H

/* From grt_main: GRT_PPROF_ADDR=host:port starts the server.  A bad value
 * prints one line on stderr and the program runs on without it. */
void prof_http_from_env(void);

#endif
