/*
 * main_stack: the main goroutine has a C main's stack, and every stack
 * overflow is reported.
 *   - main_fn with a 100 KB local array (written end to end) runs; its
 *     stack is 8 MiB by default (grt_stack_bounds), MAP_NORESERVE;
 *   - GRT_MAINSTACK sets it (256 KiB here), and a bad value gets one line
 *     naming GRT_MAINSTACK and the default;
 *   - the main goroutine recursing without bound (GRT_MAINSTACK=256K, to
 *     be quick) prints "goroutine 1 stack overflow" and its frames, then
 *     aborts; so does a goroutine on a 16 KiB stack, with its own id.
 * The main goroutine's stack was 64 KiB: the 100 KB array overflowed it.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static volatile int keep_going = 1; /* never cleared: unbounded, but the compiler cannot tell */

/* Exported (-rdynamic), so that the report names it. */
__attribute__((noinline, no_sanitize_address)) int recurse(int depth);
__attribute__((noinline, no_sanitize_address)) int recurse(int depth) {
  volatile char buf[512];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (char)(depth + i);
  int r = keep_going ? recurse(depth + 1) : 0;
  __asm__ volatile("" ::: "memory");
  return r + buf[depth % 512];
}

static grt_chan *done;

static void small_recurser(void *arg) {
  (void)arg;
  printf("small goroutine %llu\n", (unsigned long long)grt_id());
  fflush(stdout);
  recurse(0);
}

static int child(int argc, char **argv) {
  const char *mode = argv[2];
  (void)argc;
  if (strcmp(mode, "big") == 0) {
    volatile char big[100 * 1000];
    for (size_t i = 0; i < sizeof big; i++)
      big[i] = (char)i;
    uintptr_t lo, hi;
    CHECK(grt_stack_bounds(&lo, &hi) == 0);
    printf("main stack %zu bytes; big[99999] = %d\n", (size_t)(hi - lo), big[99999]);
    return 0;
  }
  if (strcmp(mode, "main") == 0) {
    printf("main goroutine %llu\n", (unsigned long long)grt_id());
    fflush(stdout);
    return recurse(0);
  }
  /* "small": a 16 KiB goroutine overflows while main waits. */
  done = grt_chan_make(0, 0);
  CHECK(grt_go_with(&(grt_go_opts){.stack_size = 16384}, small_recurser, NULL) == 0);
  grt_chan_recv(done, NULL);
  return 0;
}

static char out[8192], err[65536];

static int run(const char *mode, const char *env) {
  const char *args[] = {"child", mode, NULL};
  const char *envs[] = {env, NULL};
  int status = run_self(args, env ? envs : NULL, out, err, sizeof out);
  printf("%s (%s): status %#x\nstdout: %sstderr (first lines): %.600s\n", mode, env ? env : "-",
         status, out, err);
  return status;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);

  CHECK(run("big", "GRT_MAINSTACK") == 0);
  CHECK(strstr(out, "main stack 8388608 bytes"));
  CHECK(!strstr(err, "GRT_MAINSTACK"));

  CHECK(run("big", "GRT_MAINSTACK=262144") == 0);
  CHECK(strstr(out, "main stack 262144 bytes"));

  CHECK(run("big", "GRT_MAINSTACK=lots") == 0);
  CHECK(strstr(out, "main stack 8388608 bytes"));
  CHECK(strstr(err, "GRT_MAINSTACK=\"lots\"") && strstr(err, "8 MiB"));

  int status = run("main", "GRT_MAINSTACK=262144");
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  CHECK(strstr(err, "goroutine 1 stack overflow"));
  CHECK(strstr(err, "recurse")); /* its frames */

  status = run("small", NULL);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  unsigned long long id = 0;
  CHECK(sscanf(strstr(out, "small goroutine"), "small goroutine %llu", &id) == 1);
  char want[64];
  snprintf(want, sizeof want, "goroutine %llu stack overflow", id);
  CHECK(strstr(err, want));
  printf("ok\n");
  return 0;
}
