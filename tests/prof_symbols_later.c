/*
 * prof_symbols_later: code the profiler cannot name can be named later by
 * a reader that has the library's symbols.  A goroutine burns CPU in a
 * static function of a stripped library (tests/lib/sym_strip_lib.c:
 * strip_spin; the build keeps its unstripped copy and its debug file
 * where no debugger looks).  In the profile, strip_spin's pcs are
 * addresses in the library's mapping with no line and no made-up name,
 * and the mapping claims no functions and carries the build ID.  Then:
 *   - `go tool pprof -top` shows them as "[libgrt_sym_strip.so]" (pprof's
 *     label for code without names) and names no strip_spin.  Go's own
 *     pprof never symbolizes C code: its object reader knows Go's tables
 *     only and reads no build ID, so PPROF_BINARY_PATH cannot help it.
 *   - The standalone pprof (github.com/google/pprof, which symbolizes with
 *     binutils; built here from Debian's golang-github-google-pprof-dev)
 *     names no strip_spin either without the symbols, and names it with
 *     PPROF_BINARY_PATH=dir, dir holding the unstripped library as
 *     <build id>/<file name>.  dir also holds the debug file in the
 *     .build-id layout of /usr/lib/debug (<id[0:2]>/<id[2:]>.debug), which
 *     newer pprof versions also look for (google/pprof PR #724); Debian's
 *     2021 pprof neither looks there nor can map a debug-only file (its
 *     program headers have no file contents).
 * Skips (77) when `go` is not on PATH or the pprof source is missing.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOOGLE_PPROF_SRC "/usr/share/gocode/src/github.com/google/pprof/pprof.go"

#include "testutil.h"
#include "pprof_raw.h"

uint64_t strip_lib_burn(uint64_t n);

static struct {
  grt_wg done;
  volatile uint64_t sink;
} burn = {.done = GRT_WG_INIT};

/* Burns about 400 ms of its thread's CPU, nearly all in strip_spin. */
static void burner(void *arg) {
  (void)arg;
  int64_t end = pprof_thread_cpu_ns() + 400 * 1000 * 1000;
  while (pprof_thread_cpu_ns() < end)
    burn.sink += strip_lib_burn(200000);
  grt_wg_done(&burn.done);
}

/* The standalone pprof (github.com/google/pprof), built from Debian's
 * golang-github-google-pprof-dev next to this program the first time.
 * Exits 77 (skip) without that source. */
static const char *build_google_pprof(void) {
  static char bin[1024];
  ssize_t n = readlink("/proc/self/exe", bin, sizeof bin - 32);
  CHECK(n > 0);
  bin[n] = 0;
  strcpy(strrchr(bin, '/') + 1, "google-pprof");
  if (access(bin, X_OK) == 0) return bin;
  if (access(GOOGLE_PPROF_SRC, R_OK) != 0) {
    printf("SKIP: no %s (Debian: golang-github-google-pprof-dev) to build pprof from\n",
           GOOGLE_PPROF_SRC);
    exit(77);
  }
  const char *dir = pprof_tmpdir();
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "HOME=%s GOCACHE=%s/gocache GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= "
           "go build -o '%s.tmp' github.com/google/pprof && mv '%s.tmp' '%s'",
           dir, dir, bin, bin, bin);
  fflush(NULL);
  CHECK(system(cmd) == 0);
  return bin;
}

/* `<env> pprof -top path` with the standalone pprof (it symbolizes what the
 * profile leaves unnamed).  Its output, malloc'd. */
static char *run_google_pprof(const char *bin, const char *env, const char *path) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "HOME=%s %s '%s' -top '%s' 2>&1", pprof_tmpdir(), env, bin, path);
  fflush(NULL);
  FILE *p = popen(cmd, "r");
  CHECK(p);
  size_t cap = 1 << 16, len = 0, got;
  char *out = malloc(cap);
  CHECK(out);
  while ((got = fread(out + len, 1, cap - 1 - len, p)) > 0)
    len += got;
  out[len] = 0;
  CHECK(pclose(p) == 0);
  return out;
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  pprof_skip_without_go();
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("later.pb.gz"));
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = 500}) == 0);
  grt_wg_add(&burn.done, 1);
  CHECK(grt_go(burner, NULL) == 0);
  grt_wg_wait(&burn.done);
  CHECK(grt_prof_stop() == 0);

  /* The profile as written. */
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, 500);
  const char *lib_line = pprof_mapping_line(&r, "libgrt_sym_strip.so");
  CHECK(lib_line);
  printf("library mapping: %s\n", lib_line);
  int lib = atoi(lib_line);
  CHECK(!strstr(lib_line, "[FN]") && !strstr(lib_line, "[FL]") && !strstr(lib_line, "[LN]"));
  /* "id: start/limit/offset file buildid": the build ID follows the file. */
  char build_id[64] = "";
  const char *after = strstr(lib_line, "libgrt_sym_strip.so ");
  CHECK(after && sscanf(after + strlen("libgrt_sym_strip.so "), "%63[0-9a-f]", build_id) == 1);
  CHECK(strlen(build_id) == 40);
  int64_t unnamed = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_loc *leaf = pprof_frame(&r, &r.samples[i], 0);
    if (leaf->mapping != lib) continue;
    CHECK(leaf->addr != 0);
    for (int j = 0; j < leaf->nlines; j++) /* strip_lib_burn (.dynsym) at most */
      CHECK(strcmp(leaf->lines[j].fn, "strip_lib_burn") == 0);
    if (leaf->nlines == 0) unnamed += r.samples[i].count;
  }
  printf("samples at unnamed pcs of the library: %lld of %lld\n", (long long)unnamed,
         (long long)pprof_total_count(&r));
  CHECK(unnamed >= 10);
  pprof_free(&r);

  /* Read by `go tool pprof -top` as a user would: no strip_spin.  (Go's
   * own pprof cannot symbolize C code at all: its object reader knows Go's
   * tables only, and reads no build ID.) */
  char *top = pprof_run_env("", "-top", path);
  printf("---- go tool pprof -top ----\n%s", top);
  CHECK(!strstr(top, "strip_spin"));
  CHECK(strstr(top, "[libgrt_sym_strip.so]")); /* pprof's own label for the pcs */
  free(top);

  /* The standalone pprof symbolizes with binutils: without the library's
   * symbols it still has no name for strip_spin... */
  const char *google_pprof = build_google_pprof();
  top = run_google_pprof(google_pprof, "", path);
  printf("---- pprof -top ----\n%s", top);
  CHECK(!strstr(top, "strip_spin"));
  free(top);

  /* ...and with them, in a directory laid out by build ID, it names it. */
  char dir[256], sub[512], file[600];
  snprintf(dir, sizeof dir, "%s", pprof_path("debug"));
  CHECK(mkdir(dir, 0755) == 0);
  snprintf(sub, sizeof sub, "%s/%.2s", dir, build_id);
  CHECK(mkdir(sub, 0755) == 0);
  snprintf(file, sizeof file, "%s/%s.debug", sub, build_id + 2);
  CHECK(symlink(SYM_STRIP_DEBUG, file) == 0);
  snprintf(sub, sizeof sub, "%s/%s", dir, build_id);
  CHECK(mkdir(sub, 0755) == 0);
  snprintf(file, sizeof file, "%s/libgrt_sym_strip.so", sub);
  CHECK(symlink(SYM_STRIP_UNSTRIPPED, file) == 0);
  char env[300];
  snprintf(env, sizeof env, "PPROF_BINARY_PATH='%s'", dir);
  top = run_google_pprof(google_pprof, env, path);
  printf("---- %s pprof -top ----\n%s", env, top);
  CHECK(strstr(top, " strip_spin\n"));
  free(top);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
