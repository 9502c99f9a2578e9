/*
 * http_off.c - grt_pprof_serve when grt is built with -DGRT_HTTP=OFF: in
 * place of http.c, so libgrt does not link libmicrohttpd (and, through it,
 * gnutls and a dozen more libraries).  The API stays whole: the call
 * returns -ENOTSUP and says why in one stderr line, and GRT_PPROF_ADDR
 * says so once and the program runs on without the server.
 */
#include "top/top.h"

#include "grt.h"
#include "base/warn.h"

#include <errno.h>
#include <stdlib.h>

#define HTTP_OFF_WHY "grt was built without the /debug/pprof server (cmake -DGRT_HTTP=OFF)"

int grt_pprof_serve(const char *addr) {
  warn_line("grt_pprof_serve(\"%s\"): %s", addr ? addr : "127.0.0.1:6060", HTTP_OFF_WHY);
  return -ENOTSUP;
}

void http_from_env(void) {
  const char *addr = getenv("GRT_PPROF_ADDR");
  if (!addr || !*addr) return;
  warn_line("grt: GRT_PPROF_ADDR=\"%s\": %s; /debug/pprof not served", addr, HTTP_OFF_WHY);
}
