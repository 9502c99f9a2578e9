/*
 * sym_debuginfod: the symbolizer asks debuginfod servers for debug files
 * only when the user sets GRT_DEBUGINFOD=1, whatever DEBUGINFOD_URLS says
 * (Debian sets it for login shells).  A profiler that went on the network
 * on its own would leak what the program runs, and could stall for
 * minutes.
 *
 * The test is an HTTP server on a loopback port that answers every request
 * 404 and counts connections.  It runs itself twice as a child with
 * DEBUGINFOD_URLS pointing at the server (and a fresh DEBUGINFOD_CACHE_PATH,
 * so no cached miss answers instead): each child parks a goroutine inside
 * a stripped library with no debug file anywhere (tests/lib/
 * sym_strip_lib.c) and writes a goroutine dump, which symbolizes that
 * frame.  Without GRT_DEBUGINFOD: no connection.  With GRT_DEBUGINFOD=1: at
 * least one (that half is skipped, with a line, when libdebuginfod.so.1 is
 * not installed: then libdw cannot ask anyone).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

void strip_lib_call(void (*fn)(void *), void *arg);

/* ---- the child: a goroutine parked in the library, and a dump ---- */

static struct {
  _Atomic int parked;
  grt_wg release, done;
} child = {.release = GRT_WG_INIT, .done = GRT_WG_INIT};

static void park(void *arg) {
  (void)arg;
  atomic_store(&child.parked, 1);
  grt_wg_wait(&child.release);
}

static void parked_in_library(void *arg) {
  strip_lib_call(park, arg);
  grt_wg_done(&child.done);
}

static int child_run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  grt_wg_add(&child.release, 1);
  grt_wg_add(&child.done, 1);
  CHECK(grt_go(parked_in_library, NULL) == 0);
  while (!atomic_load(&child.parked))
    grt_sleep(1000000);
  char *dump = dump_to_string();
  /* The library's frame was symbolized (its exported name, from .dynsym). */
  CHECK(strstr(dump, "strip_lib_call"));
  free(dump);
  grt_wg_done(&child.release);
  grt_wg_wait(&child.done);
  printf("child: dumped\n");
  return 0;
}

/* ---- the parent: a server that counts connections ---- */

static _Atomic int connections;

static void *serve(void *arg) {
  int lfd = *(int *)arg;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) continue;
    atomic_fetch_add(&connections, 1);
    char req[4096];
    ssize_t n = recv(fd, req, sizeof req, 0); /* the request's head, at least part */
    (void)n;
    static const char reply[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n";
    ssize_t w = send(fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
    (void)w;
    close(fd);
  }
  return NULL;
}

/* Runs the child with the given GRT_DEBUGINFOD change; returns how many
 * connections the server took meanwhile. */
static int run_child(const char *url, const char *cache, const char *grt_debuginfod) {
  char urls[128], cache_env[300];
  snprintf(urls, sizeof urls, "DEBUGINFOD_URLS=%s", url);
  snprintf(cache_env, sizeof cache_env, "DEBUGINFOD_CACHE_PATH=%s", cache);
  const char *const env[] = {urls, cache_env, "DEBUGINFOD_TIMEOUT=10", grt_debuginfod, NULL};
  static char out[1 << 16], err[1 << 16];
  int before = atomic_load(&connections);
  int status = run_self((const char *const[]){"child", NULL}, env, out, err, sizeof out);
  printf("child (%s): status %d\n  stdout: %s  stderr: %s\n", grt_debuginfod, status, out, err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return atomic_load(&connections) - before;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child_run, argc, argv);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  CHECK(listen(lfd, 64) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, serve, &lfd) == 0);
  char url[64], cache[] = "/tmp/grt_debuginfod.XXXXXX";
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
  CHECK(mkdtemp(cache));

  /* Off by default, with DEBUGINFOD_URLS set; and "0" is off. */
  int off = run_child(url, cache, "GRT_DEBUGINFOD");
  printf("connections without GRT_DEBUGINFOD: %d\n", off);
  CHECK(off == 0);
  off = run_child(url, cache, "GRT_DEBUGINFOD=0");
  printf("connections with GRT_DEBUGINFOD=0: %d\n", off);
  CHECK(off == 0);

  void *client = dlopen("libdebuginfod.so.1", RTLD_LAZY);
  if (!client) {
    printf("SKIP (half): no libdebuginfod.so.1, so GRT_DEBUGINFOD=1 cannot ask anyone\n");
  } else {
    int on = run_child(url, cache, "GRT_DEBUGINFOD=1");
    printf("connections with GRT_DEBUGINFOD=1: %d\n", on);
    CHECK(on > 0);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
  CHECK(system(cmd) == 0);
  printf("ok\n");
  return 0;
}
