/*
 * unit_dump_profile: goroutines_write, the /debug/pprof/goroutine
 * endpoint's body (white-box: it is internal, so this links grt_internal).
 * debug=0 is a gzipped pprof goroutine profile that `go tool pprof -raw`
 * reads, with sample and period type goroutine/count and the stack of the
 * goroutines parked in waits_on_chan counted once each; debug=1 is Go's
 * "goroutine profile: total N" text; debug=2 is grt_dump's traceback.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <fcntl.h>
#include <stdatomic.h>

#include "testutil.h"
#include "pprof_raw.h"
#include "pprof/goroutines.h"

#define NWAIT 5
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static grt_chan *never;
static _Atomic int started;

__attribute__((noinline)) static void waits_on_chan(void *arg) {
  (void)arg;
  atomic_fetch_add(&started, 1);
  grt_chan_recv(never, NULL);
  NO_TAIL_CALL();
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  CHECK(f);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  pprof_skip_without_go();
  never = grt_chan_make(0, 0);
  for (int i = 0; i < NWAIT; i++)
    CHECK(grt_go(waits_on_chan, NULL) == 0);
  while (atomic_load(&started) < NWAIT)
    grt_sleep(1000 * 1000);
  grt_sleep(20 * 1000 * 1000); /* and parked */

  /* debug=0 */
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("goroutine.pb.gz"));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK(goroutines_write(fd, 0) == 0);
  close(fd);
  /* pprof_raw.h's parser wants CPU profiles' two values: read -raw here. */
  char *raw = pprof_run("-raw", path);
  CHECK(strstr(raw, "PeriodType: goroutine count\n"));
  CHECK(strstr(raw, "Period: 1\n"));
  CHECK(strstr(raw, "Samples:\ngoroutine/count\n"));
  /* location id -> function of its first line */
  static char fn_of[4096][64];
  for (char *l = strstr(raw, "Locations\n"); l && (l = strchr(l, '\n')); l++) {
    int id;
    char fn[64];
    if (sscanf(l + 1, " %d: %*s M=%*d %63s", &id, fn) == 2 && id > 0 && id < 4096)
      snprintf(fn_of[id], sizeof fn_of[id], "%s", fn);
  }
  int found = 0;
  int64_t total = 0;
  char *samples = strstr(raw, "goroutine/count\n") + strlen("goroutine/count\n");
  char *end = strstr(samples, "Locations\n");
  CHECK(end);
  for (char *l = samples; l < end; l = strchr(l, '\n') + 1) {
    long count;
    int used;
    CHECK(sscanf(l, " %ld:%n", &count, &used) == 1);
    total += count;
    char stack[512] = "";
    for (char *p = l + used; *p && *p != '\n';) {
      int id, k;
      if (sscanf(p, " %d%n", &id, &k) != 1) break;
      p += k;
      CHECK(id > 0 && id < 4096 && fn_of[id][0]);
      snprintf(stack + strlen(stack), sizeof stack - strlen(stack), "%s ", fn_of[id]);
    }
    if (!strstr(stack, "waits_on_chan")) continue;
    /* sched_park shows where it does not tail-call the switch (ASan). */
    const char *want = "grt_chan_recv waits_on_chan sched_gostart sched_goentry ";
    const char *st = strncmp(stack, "sched_park ", 11) == 0 ? stack + 11 : stack;
    if (strcmp(st, want) != 0) fprintf(stderr, "stack: %s\n%s\n", stack, raw);
    CHECK(strcmp(st, want) == 0);
    CHECK(count == NWAIT);
    found++;
  }
  CHECK(found == 1);
  CHECK(total >= NWAIT + 1); /* and the main goroutine */
  free(raw);

  /* debug=1 */
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK(goroutines_write(fd, 1) == 0);
  close(fd);
  char *t = read_file(path);
  long n = 0;
  CHECK(sscanf(t, "goroutine profile: total %ld\n", &n) == 1 && n == total);
  char want[64];
  snprintf(want, sizeof want, "\n%d @ 0x", NWAIT);
  CHECK(strstr(t, want));
  CHECK(strstr(strstr(t, want), "\twaits_on_chan"));
  CHECK(strstr(t, "unit_dump_profile.c:"));

  /* debug=2, and errors */
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK(goroutines_write(fd, 2) == 0);
  close(fd);
  t = read_file(path);
  CHECK(strncmp(t, "goroutine 1 [running]:\n", 23) == 0);
  CHECK(strstr(t, "[chan receive]:\n"));
  CHECK(strstr(t, "\nwaits_on_chan(...)\n\t"));
  CHECK(goroutines_write(-1, 0) == -EBADF);
  CHECK(goroutines_write(1000, 1) == -EBADF);
  CHECK(goroutines_write(1, -1) == -EINVAL);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
