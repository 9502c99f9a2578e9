/*
 * http_pprof: grt_pprof_serve serves Go's /debug/pprof endpoints to the
 * real client, and bad input never stops it.  Goroutines burn CPU in
 * http_hog while the main goroutine, through grt_extcall (blocking socket
 * calls must not hold its P), checks:
 *   - bad addresses are -EINVAL, a second server -EBUSY;
 *   - `go tool pprof -raw <url>/profile?seconds=2` reads a CPU profile with
 *     http_hog in it; goroutine?debug=0 parses too, debug=1 and 2 are text;
 *   - a profile request while one runs gets 500 "cpu profiling already in
 *     use", and the index still answers at once meanwhile;
 *   - bad seconds, hz and debug values get 400, unknown paths 404;
 *   - a 100 KB path, garbage, a bad method, a request cut off mid-header,
 *     and one left stalled: each gets a 4xx or a closed connection, and the
 *     index answers 200 afterwards;
 *   - GRT_PPROF_ADDR starts the server from grt_main; a bad value is one
 *     stderr line and the program runs on (child processes).
 * Skipped without go.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "testutil.h"
#include "pprof_raw.h"

static atomic_int hogs_stop;
static volatile uint64_t sink;
static grt_wg hogs_wg;

__attribute__((noinline)) static void http_hog(void *arg) {
  (void)arg;
  while (!atomic_load(&hogs_stop)) {
    for (int i = 0; i < 100000; i++)
      sink += (uint64_t)i * 2654435761u;
    grt_yield();
  }
  grt_wg_done(&hogs_wg);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#include "httpclient.h"

static void check_addresses(void) {
  const char *bad[] = {"nonsense",
                       "127.0.0.1",
                       "127.0.0.1:",
                       "127.0.0.1:0",
                       "127.0.0.1:65536",
                       "127.0.0.1:80x",
                       ":-1",
                       "::1:6060",
                       "[::1",
                       "[::1]6060",
                       NULL};
  for (int i = 0; bad[i]; i++) {
    int err = grt_pprof_serve(bad[i]);
    if (err != -EINVAL) fprintf(stderr, "grt_pprof_serve(\"%s\") = %d\n", bad[i], err);
    CHECK(err == -EINVAL);
  }
  char addr[64];
  int err = -EADDRINUSE;
  for (int tries = 0; tries < 5 && err == -EADDRINUSE; tries++) {
    port = free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    err = grt_pprof_serve(addr);
  }
  CHECK(err == 0);
  CHECK(grt_pprof_serve(addr) == -EBUSY);
  CHECK(grt_pprof_serve(NULL) == -EBUSY);
}

static void check_paths(void) {
  struct exchange x = {0};
  expect(&x, "/debug/pprof/", 200, "profile");
  expect(&x, "/debug/pprof", 301, NULL);
  CHECK(strstr(x.reply, "Location: /debug/pprof/"));
  expect(&x, "/", 404, NULL);
  expect(&x, "/debug/pprof/heap", 404, NULL);
  expect(&x, "/debug/pprof/profile/x", 404, NULL);
  const char *bad[] = {"seconds=abc", "seconds=-1",  "seconds=0",   "seconds=3601",
                       "seconds=2x",  "seconds=%20", "seconds=1e3", "hz=0",
                       "hz=99999",    "hz=abc",      "hz=-5",       NULL};
  for (int i = 0; bad[i]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/debug/pprof/profile?%s", bad[i]);
    expect(&x, path, 400, bad[i][0] == 's' ? "seconds" : "hz");
  }
  expect(&x, "/debug/pprof/goroutine?debug=3", 400, "debug");
  expect(&x, "/debug/pprof/goroutine?debug=x", 400, "debug");
  free(x.reply);
}

/* The program holds the profiler: the server says so, in Go's words. */
static void check_busy_program(void) {
  int fd = memfd_create("busy", MFD_CLOEXEC);
  CHECK(fd >= 0);
  CHECK(grt_prof_start(&(grt_prof_config){.fd = fd}) == 0);
  struct exchange x = {0};
  expect(&x, "/debug/pprof/profile?seconds=1", 500, "cpu profiling already in use");
  CHECK(grt_prof_stop() == 0);
  close(fd);
  free(x.reply);
}

static void *exchange_thread(void *arg) {
  return exchange_run(arg);
}

static int is_profile(const struct exchange *x) {
  return x->status == 200 && x->body_len > 2 && (unsigned char)x->body[0] == 0x1f &&
         (unsigned char)x->body[1] == 0x8b;
}

static int is_busy(const struct exchange *x) {
  return x->status == 500 && strstr(x->body, "cpu profiling already in use");
}

/* Two profile requests overlap: one gets the profile, the other 500; the
 * index answers at once meanwhile (one thread per connection). */
static void check_concurrent(void) {
  static const char first[] = "GET /debug/pprof/profile?seconds=3 HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n";
  struct exchange a = {.req = first, .len = sizeof first - 1}, b = {0}, x = {0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, exchange_thread, &a) == 0);
  grt_sleep(500 * 1000 * 1000);
  int64_t t0 = now_ms();
  expect(&x, "/debug/pprof/", 200, "profile");
  int64_t took = now_ms() - t0;
  printf("index during a profile: %lld ms\n", (long long)took);
  CHECK(took < 2000);
  get(&b, "/debug/pprof/profile?seconds=1");
  CHECK(join_thread(t) == 0);
  if (!((is_profile(&a) && is_busy(&b)) || (is_busy(&a) && is_profile(&b)))) {
    fprintf(stderr, "first:\n%.1000s\nsecond:\n%.1000s\n", a.reply, b.reply);
    CHECK(0);
  }
  free(a.reply);
  free(b.reply);
  free(x.reply);
}

static void check_cpu_profile(void) {
  char path[64];
  snprintf(path, sizeof path, "/debug/pprof/profile?seconds=2&hz=%d", 200);
  struct pprof_raw r;
  char *out = pprof_url(path);
  pprof_parse_raw(out, &r);
  free(out);
  pprof_check_cpu_profile(&r, 200);
  int64_t hog = 0;
  for (int i = 0; i < r.nsamples; i++)
    if (pprof_has_fn(&r, &r.samples[i], "http_hog")) hog += r.samples[i].count;
  printf("profile: %d samples, %lld in http_hog\n", r.nsamples, (long long)hog);
  CHECK(hog > 0);
  pprof_free(&r);
}

static void check_goroutines(void) {
  struct exchange x = {0};
  expect(&x, "/debug/pprof/goroutine?debug=1", 200, "goroutine profile: total");
  CHECK(strstr(x.reply, "text/plain"));
  expect(&x, "/debug/pprof/goroutine?debug=2", 200, "goroutine ");
  expect(&x, "/debug/pprof/goroutine", 200, NULL);
  CHECK(x.body_len > 2 && (unsigned char)x.body[0] == 0x1f);
  free(x.reply);
  /* pprof_parse_raw reads CPU profiles (two values a sample): check
   * the one-value goroutine samples here. */
  char *out = pprof_url("/debug/pprof/goroutine?debug=0");
  char *samples = strstr(out, "Samples:\ngoroutine/count\n");
  int count = 0, used = 0;
  if (samples) sscanf(samples + strlen("Samples:\ngoroutine/count\n"), " %d:%n", &count, &used);
  printf("goroutine profile: first sample %d\n", count);
  if (count < 1 || !used) fprintf(stderr, "go tool pprof -raw:\n%.3000s\n", out);
  CHECK(count >= 1 && used);
  free(out);
}

static void check_malformed(void) {
  size_t n = 100 * 1024;
  char *huge = malloc(n + 64);
  CHECK(huge);
  memcpy(huge, "GET /", 5);
  memset(huge + 5, 'a', n);
  strcpy(huge + 5 + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_rejected("100 KB path", huge, strlen(huge));
  snprintf(huge, n, "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nX-Big: ");
  size_t h = strlen(huge);
  memset(huge + h, 'b', n - h - 8);
  strcpy(huge + n - 8, "\r\n\r\n");
  expect_rejected("100 KB header", huge, strlen(huge));
  free(huge);
  static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
  expect_rejected("garbage", garbage, sizeof garbage - 1);
  static const char method[] = "BREW /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n";
  expect_rejected("bad method", method, sizeof method - 1);
  static const char version[] = "GET /debug/pprof/ HTTP/7.0\r\nHost: x\r\n\r\n";
  expect_rejected("bad version", version, sizeof version - 1);
  static const char spaces[] = "GET  HTTP/1.1\r\n\r\n";
  expect_rejected("no path", spaces, sizeof spaces - 1);
  static const char len[] = "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n";
  expect_rejected("bad Content-Length", len, sizeof len - 1);

  /* Cut off mid-header: the client hangs up. */
  static const char part[] = "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nX-Part";
  int fd = (int)(intptr_t)grt_extcall(dial_thunk, NULL);
  CHECK(send(fd, part, sizeof part - 1, MSG_NOSIGNAL) == sizeof part - 1);
  close(fd);
}

/* A request left stalled mid-header: the server drops it after its request
 * deadline (5 s; checked by the end of the run; http_slowloris checks the
 * times). */
static int stalled_fd;
static int64_t stalled_at;

static void *stall_start(void *unused) {
  (void)unused;
  static const char part[] = "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nX-Part";
  stalled_fd = dial();
  CHECK(send(stalled_fd, part, sizeof part - 1, MSG_NOSIGNAL) == sizeof part - 1);
  stalled_at = now_ms();
  return NULL;
}

static void *stall_check(void *unused) {
  (void)unused;
  struct timeval tv = {.tv_sec = 25};
  setsockopt(stalled_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  ssize_t n;
  while ((n = recv(stalled_fd, buf, sizeof buf, 0)) > 0) {
  }
  int64_t took = now_ms() - stalled_at;
  printf("stalled request closed after %lld ms (%zd, %s)\n", (long long)took, n,
         n < 0 ? strerror(errno) : "eof");
  CHECK(n == 0 || errno == ECONNRESET);
  close(stalled_fd);
  return NULL;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  check_addresses();
  grt_extcall(stall_start, NULL);
  grt_wg_add(&hogs_wg, 2);
  for (int i = 0; i < 2; i++)
    CHECK(grt_go(http_hog, NULL) == 0);

  check_paths();
  check_busy_program();
  check_concurrent();
  check_cpu_profile();
  check_goroutines();
  check_malformed();
  struct exchange x = {0};
  expect(&x, "/debug/pprof/", 200, "profile");
  grt_extcall(stall_check, NULL);
  expect(&x, "/debug/pprof/", 200, "profile");
  free(x.reply);

  atomic_store(&hogs_stop, 1);
  grt_wg_wait(&hogs_wg);
  printf("ok\n");
  return 0;
}

/* ---- GRT_PPROF_ADDR, in a child ---- */

static int env_main(int argc, char **argv) {
  (void)argc, (void)argv;
  const char *addr = getenv("GRT_PPROF_ADDR");
  const char *colon = strrchr(addr, ':');
  if (colon && atoi(colon + 1) > 0) {
    port = atoi(colon + 1);
    CHECK(grt_pprof_serve(addr) == -EBUSY); /* grt_main started it */
    struct exchange x = {0};
    expect(&x, "/debug/pprof/", 200, "profile");
    free(x.reply);
  }
  printf("done\n");
  return 0;
}

static void check_env(void) {
  static char out[4096], err[4096];
  const char *args[] = {"env", NULL};
  char good[64];
  snprintf(good, sizeof good, "GRT_PPROF_ADDR=127.0.0.1:%d", free_port());
  const char *env_good[] = {good, NULL};
  int status = run_self(args, env_good, out, err, sizeof out);
  /* stderr: only the -EBUSY of the child's own second grt_pprof_serve */
  int ok = status == 0 && strcmp(out, "done\n") == 0 && strstr(err, "already serving") &&
           strchr(err, '\n') == err + strlen(err) - 1;
  if (!ok) fprintf(stderr, "child status %#x\nstdout: %s\nstderr: %s\n", status, out, err);
  CHECK(ok);

  const char *env_bad[] = {"GRT_PPROF_ADDR=localhost:http", NULL};
  status = run_self(args, env_bad, out, err, sizeof out);
  printf("bad GRT_PPROF_ADDR: %s", err);
  CHECK(status == 0 && strcmp(out, "done\n") == 0);
  CHECK(strstr(err, "GRT_PPROF_ADDR") && strchr(err, '\n') == err + strlen(err) - 1);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "env") == 0) return grt_main(env_main, argc, argv);
  pprof_skip_without_go();
  check_env();
  return main_with_procs("2", real_main, argc, argv);
}
