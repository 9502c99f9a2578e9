/*
 * overflow: a goroutine stack overflow is reported on stderr and kills the
 * process.  The test re-runs itself as a child twice.  "guard": a goroutine
 * with a 64 KiB stack prints its id and recurses without bound into its
 * guard page; the report is "goroutine <id> stack overflow".  "canary"
 * (with GRT_STACK_GUARD_BUDGET=0, so stacks have no guard page): the
 * goroutine recurses to about 2 KiB past the bottom of its stack (into the
 * stack carved just below it, which is mapped), returns, and yields, and
 * the canary check at the switch must catch it.  A dirty canary does not
 * tell whose frames wrote it, so that report names the stack ("stack
 * overflow detected on goroutine <id>'s stack") and says the goroutine
 * that overflowed is unknown, rather than blaming one.  The parent checks
 * the message names the goroutine's id and that the child did not exit 0.
 * Both
 * reports must be symbolizable after the process is gone: every frame line
 * names its module and the address in it ("  fn+0x12 (/path/prog+0x1234)"
 * or "  ?  (/path/prog+0x1234)"), and a line gives the executable's GNU
 * build ID (the one readelf -n shows, when readelf is installed).  The same
 * message is required under ASan: grt installs its SIGSEGV handler over
 * ASan's, so ASan's own stack-overflow report never comes first.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define STACK 65536
#define OVERRUN 2048 /* canary case: how far below the stack to reach */

/* ---- child ---- */

static volatile int keep_going = 1;
static uintptr_t stack_lo;

/* Unbounded (guard) or down to OVERRUN bytes below stack_lo (canary); not
 * a tail call, so every level keeps its ~512-byte frame.  Not instrumented
 * by ASan: its overrun into the stack below would otherwise be reported by
 * ASan itself (as a stack-buffer-underflow on the parked goroutine's
 * redzones) before the runtime's canary check gets to see it. */
__attribute__((noinline, no_sanitize_address)) static int recurse(int depth, int bounded) {
  volatile char buf[512];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (char)(depth + i + 1);
  int r = 0;
  if (keep_going && (!bounded || (uintptr_t)__builtin_frame_address(0) > stack_lo - OVERRUN))
    r = recurse(depth + 1, bounded);
  __asm__ volatile("" ::: "memory");
  return r + buf[depth % 512];
}

static grt_chan *never;
static uintptr_t pad_lo[4], pad_hi[4];

/* Parked forever; its stack sits below the overflowing goroutine's. */
static void pad(void *arg) {
  int i = (int)(intptr_t)arg;
  CHECK(grt_stack_bounds(&pad_lo[i], &pad_hi[i]) == 0);
  grt_chan_recv(never, NULL);
}

static void overflower(void *arg) {
  int bounded = (int)(intptr_t)arg;
  uintptr_t hi;
  CHECK(grt_stack_bounds(&stack_lo, &hi) == 0);
  CHECK(hi - stack_lo == STACK);
  if (bounded) {
    /* The stack just below must be a parked goroutine's, or the overrun
     * would hit unmapped memory instead of the canary. */
    int below = 0;
    for (int i = 0; i < 4; i++)
      if (pad_hi[i] == stack_lo) below = 1;
    if (!below) {
      fprintf(stderr, "child: no pad stack right below [%#lx, %#lx)\n", (unsigned long)stack_lo,
              (unsigned long)hi);
      exit(3);
    }
  }
  printf("%llu\n", (unsigned long long)grt_id());
  fflush(stdout);
  int r = recurse(0, bounded);
  printf("returned from recursion (%d)\n", r);
  fflush(stdout);
  grt_yield(); /* the switch out checks the canary */
  fprintf(stderr, "child: overflow went unnoticed\n");
}

static grt_wg wg;

static int child(int argc, char **argv) {
  int bounded = strcmp(argv[1], "canary") == 0;
  (void)argc;
  never = grt_chan_make(0, 0);
  CHECK(never);
  grt_wg_add(&wg, 4);
  for (int i = 0; i < 4; i++)
    CHECK(grt_go(pad, (void *)(intptr_t)i) == 0);
  while (!pad_hi[0] || !pad_hi[1] || !pad_hi[2] || !pad_hi[3])
    grt_sleep(1000000);
  grt_go_opts o = {.stack_size = STACK, .name = "overflower"};
  grt_wg_add(&wg, 1);
  CHECK(grt_go_with(&o, overflower, (void *)(intptr_t)bounded) == 0);
  grt_wg_wait(&wg); /* never returns: the pads never finish */
  return 0;
}

/* ---- parent ---- */

/* The report's frame lines, from the first after the header line holding
 * header on: each names a module and an offset in it, and the executable
 * (this program, as the child is) is among them, as is a build ID line
 * for it. */
static void check_frames(const char *err, const char *header) {
  static char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(n > 0);
  exe[n] = 0;
  const char *p = strstr(err, header);
  CHECK(p);
  p = strchr(p, '\n');
  CHECK(p);
  p++;
  char in_exe[4200], build_id[4200];
  snprintf(in_exe, sizeof in_exe, " (%s+0x", exe);
  snprintf(build_id, sizeof build_id, "  build ID of %s: ", exe);
  /* The build ID as readelf -n reads it from the file, if readelf is here. */
  char want_id[128] = "";
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "readelf -n '%s' 2>/dev/null", exe);
  FILE *re = popen(cmd, "r");
  if (re) {
    char l[512];
    while (fgets(l, sizeof l, re))
      if (sscanf(l, " Build ID: %127s", want_id) == 1) break;
    pclose(re);
  }
  int frames = 0, exe_frames = 0, ids = 0;
  while (strncmp(p, "  ", 2) == 0) {
    const char *end = strchr(p, '\n');
    CHECK(end);
    char line[4400];
    CHECK((size_t)(end - p) < sizeof line);
    memcpy(line, p, (size_t)(end - p));
    line[end - p] = 0;
    if (strncmp(line, build_id, strlen(build_id)) == 0) {
      const char *hex = line + strlen(build_id);
      CHECK(strlen(hex) >= 16 && strspn(hex, "0123456789abcdef") == strlen(hex));
      if (want_id[0]) CHECK(strcmp(hex, want_id) == 0);
      ids++;
    } else if (strncmp(line, "  build ID of ", 14) != 0) {
      /* "  sym (module+0xoff)": a module and an offset, never a bare pc */
      const char *m = strstr(line, " (");
      CHECK(m && strstr(m, "+0x") && line[strlen(line) - 1] == ')');
      CHECK(strstr(line, "pc=") == NULL);
      frames++;
      if (strstr(line, in_exe)) exe_frames++;
    }
    p = end + 1;
  }
  printf("report: %d frame lines, %d in %s, %d build ID line(s) for it (readelf: %s)\n", frames,
         exe_frames, exe, ids, want_id[0] ? want_id : "not run");
  CHECK(frames > 0 && exe_frames > 0);
  CHECK(ids == 1);
}

/* Runs this program as mode with GRT_STACK_GUARD_BUDGET set by guard_env
 * ("GRT_STACK_GUARD_BUDGET=n", or just the name to unset it). */
static void check_case(const char *mode, const char *guard_env) {
  static char out[1 << 16], err[1 << 16];
  const char *args[] = {mode, NULL}, *env[] = {guard_env, NULL};
  int status = run_self(args, env, out, err, sizeof out);
  printf("--- %s child: ", mode);
  if (WIFSIGNALED(status))
    printf("killed by signal %d\n", WTERMSIG(status));
  else
    printf("exited with status %d\n", WEXITSTATUS(status));
  printf("stdout:\n%sstderr:\n%s", out, err);
  unsigned long long id = 0;
  CHECK(sscanf(out, "%llu", &id) == 1);
  CHECK(id > 1);
  char want[96];
  if (strcmp(mode, "guard") == 0) {
    snprintf(want, sizeof want, "goroutine %llu stack overflow", id);
    CHECK(strstr(err, want) != NULL);
  } else {
    snprintf(want, sizeof want, "stack overflow detected on goroutine %llu's stack", id);
    CHECK(strstr(err, want) != NULL);
    CHECK(strstr(err, "the goroutine that overflowed is unknown") != NULL);
  }
  check_frames(err, want);
  CHECK(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
}

static int parent(int argc, char **argv) {
  (void)argc;
  (void)argv;
  check_case("guard", "GRT_STACK_GUARD_BUDGET"); /* unset: the default budget */
  check_case("canary", "GRT_STACK_GUARD_BUDGET=0");
  printf("overflow: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "guard") == 0 || strcmp(argv[1], "canary") == 0))
    return grt_main(child, argc, argv);
  return grt_main(parent, argc, argv);
}
