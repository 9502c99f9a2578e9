/*
 * unit_prof_dlclose: the profiler's collector survives a library that is
 * unloaded while profiling, its file then truncated on disk, and new code
 * run at its old address (issue 16: it died of SIGBUS, silently, taking the
 * process with it).  In a child, with a copy of tests/lib/prof_dlclose_lib.c:
 *   - dlopen the copy, start profiling at 500 Hz, burn CPU in dl_burn_a,
 *     dlclose it, truncate the copy to 0 bytes, copy its code page byte for
 *     byte to the same address in an anonymous executable mapping (a JIT
 *     page), burn CPU in dl_burn_b there (pcs no table covers: the walker's
 *     lookup rejects them through _dl_find_object), stop;
 *   - "unloaded": as is.  Nothing may read a module that is no longer
 *     loaded: no fault, nothing on stderr;
 *   - "fault": a symbolizer opened while the copy was loaded, told by a
 *     test hook to trust its snapshot of the modules, looks dl_burn_a up
 *     after the truncation, so libdw reads the truncated file and takes
 *     SIGBUS: it survives, says so in one stderr line naming the file, and
 *     the address counts as unknown.
 * Either child must exit 0 and write a profile that `go tool pprof -raw`
 * reads, with samples in both burners' code.  Skipped without go.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "pprof/symbolize.h"

#define HZ 500
#define BURN_NS 300000000 /* thread CPU per burner */

typedef uint64_t (*burn_fn)(uint64_t);
static volatile uint64_t sink;

static void burn(burn_fn f) {
  int64_t end = pprof_thread_cpu_ns() + BURN_NS;
  while (pprof_thread_cpu_ns() < end)
    sink += f(200000);
}

/* ---- the child ---- */

static void copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  CHECK(in >= 0 && out >= 0);
  static char buf[65536]; /* not on a 64 KiB goroutine stack */
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    CHECK(write(out, buf, (size_t)n) == n);
  CHECK(n == 0);
  close(in);
  CHECK(close(out) == 0);
}

/* The executable segment of the loaded object named path. */
struct seg {
  const char *path;
  uintptr_t lo, hi;
};

static int find_seg(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct seg *s = arg;
  if (!info->dlpi_name || strcmp(info->dlpi_name, s->path) != 0) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    s->lo = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
    s->hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
    return 1;
  }
  return 0;
}

static const char *child_mode, *child_lib, *child_profile;

struct lookup {
  symbolizer *sym;
  uintptr_t pc;
  int n;
};

static void *look_up(void *arg) {
  struct lookup *l = arg;
  struct symbolize_line lines[4];
  l->n = symbolize_pc(l->sym, l->pc, lines, 4);
  return NULL;
}

static void *join_looker(void *arg) {
  pthread_join(*(pthread_t *)arg, NULL);
  return NULL;
}

static int child_main(int argc, char **argv) {
  (void)argc, (void)argv;
  if (strcmp(child_mode, "fault") == 0) symbolize_test_trust_snapshot(true);
  copy_file(PROF_DLCLOSE_LIB, child_lib);
  void *h = dlopen(child_lib, RTLD_NOW | RTLD_LOCAL);
  CHECK(h);
  uintptr_t a = (uintptr_t)dlsym(h, "dl_burn_a"), b = (uintptr_t)dlsym(h, "dl_burn_b");
  CHECK(a && b);
  struct seg seg = {.path = child_lib};
  CHECK(dl_iterate_phdr(find_seg, &seg) == 1);
  CHECK(seg.lo <= a && a < seg.hi && seg.lo <= b && b < seg.hi);
  size_t len = seg.hi - seg.lo;
  char *code = malloc(len);
  CHECK(code);
  memcpy(code, (void *)seg.lo, len);

  CHECK(grt_prof_start(&(grt_prof_config){.path = child_profile, .hz = HZ}) == 0);
  burn((burn_fn)a);
  grt_sleep(300 * 1000 * 1000); /* the collector has drained a's samples */
  /* fault: a symbolizer whose snapshot of the modules has the library */
  symbolizer *sym = strcmp(child_mode, "fault") == 0 ? symbolize_open() : NULL;

  CHECK(dlclose(h) == 0);
  CHECK(truncate(child_lib, 0) == 0);
  void *jit = mmap((void *)seg.lo, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  CHECK(jit == (void *)seg.lo); /* the library is gone: its range is free */
  memcpy(jit, code, len);
  CHECK(mprotect(jit, len, PROT_READ | PROT_EXEC) == 0);
  burn((burn_fn)b); /* the same address, code the collector has not seen */
  grt_sleep(300 * 1000 * 1000);
  if (sym) {
    /* It trusts its snapshot (the test hook), so libdw reads the file
     * truncated under it: the fault is caught, said once, and the address
     * is unknown.  On a plain thread, as the collector and the final
     * write symbolize. */
    struct lookup l = {sym, a, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, look_up, &l) == 0);
    grt_extcall(join_looker, &t);
    CHECK(l.n >= 1);
    symbolize_close(sym);
  }

  CHECK(grt_prof_stop() == 0);
  munmap(jit, len);
  free(code);
  printf("code %#lx %#lx a %#lx b %#lx\n", (unsigned long)seg.lo, (unsigned long)seg.hi,
         (unsigned long)a, (unsigned long)b);
  printf("done\n");
  return 0;
}

/* ---- the parent ---- */

/* Samples (counts) whose leaf address is in [lo, hi). */
static int64_t leaf_count_in(const struct pprof_raw *r, uintptr_t lo, uintptr_t hi) {
  int64_t n = 0;
  for (int i = 0; i < r->nsamples; i++) {
    const struct pprof_loc *l = pprof_frame(r, &r->samples[i], 0);
    if (l && l->addr >= lo && l->addr < hi) n += r->samples[i].count;
  }
  return n;
}

static void run_child(const char *mode) {
  static char out[8192], err[8192];
  char lib[256], profile[256];
  snprintf(lib, sizeof lib, "%s", pprof_path("lib-copy.so"));
  snprintf(profile, sizeof profile, "%s", pprof_path(mode));
  const char *args[] = {"child", mode, lib, profile, NULL};
  /* After a fault the libdw session is leaked, by design. */
  const char *env[] = {"ASAN_OPTIONS=detect_leaks=0", NULL};
  int status = run_self(args, env, out, err, sizeof out);
  printf("%s: status %#x\n  stdout: %s  stderr: %s%s", mode, status, out, err, err[0] ? "" : "\n");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "done\n"));
  if (strcmp(mode, "unloaded") == 0) {
    CHECK(err[0] == 0); /* nothing read, nothing to report */
  } else {
    /* one line, naming the signal and the file */
    CHECK(strstr(err, "SIGBUS") && strstr(err, "lib-copy.so"));
    CHECK(strchr(err, '\n') == err + strlen(err) - 1);
  }
  unsigned long lo, hi, a, b;
  CHECK(sscanf(out, "code %lx %lx a %lx b %lx", &lo, &hi, &a, &b) == 4);

  struct pprof_raw r;
  pprof_load(profile, &r);
  pprof_check_cpu_profile(&r, HZ);
  /* Each burner's code runs from its address to the other's or the end. */
  uintptr_t a_end = b > a ? b : hi, b_end = a > b ? a : hi;
  int64_t in_a = leaf_count_in(&r, a, a_end), in_b = leaf_count_in(&r, b, b_end);
  printf("  %lld samples: %lld in dl_burn_a, %lld in its copy of dl_burn_b\n",
         (long long)pprof_total_count(&r), (long long)in_a, (long long)in_b);
  CHECK(in_a > 0 && in_b > 0);
  pprof_free(&r);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "child") == 0) {
    child_mode = argv[2];
    child_lib = argv[3];
    child_profile = argv[4];
    return main_with_procs("1", child_main, argc, argv);
  }
  pprof_skip_without_go();
  run_child("unloaded");
  run_child("fault");
  printf("ok\n");
  return 0;
}
