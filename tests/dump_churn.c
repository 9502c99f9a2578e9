/*
 * dump_churn: grt_dump stays consistent and crash-free while 10^4
 * goroutines churn on two Ps: they park on a channel, wake, exit and are
 * replaced (reusing dead goroutines' stacks), while the main goroutine
 * takes 50 dumps with no stop-the-world.  Every dump must parse: each
 * block a well-formed "goroutine N [state]:" header, then function lines
 * each followed by its "\tfile:line" (or one "stack unavailable" line),
 * and a "created by fn in goroutine N" line with its position.
 * A goroutine parked for the whole test in parked_forever must show up in
 * a dump as [chan receive] with its function.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <ctype.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "testutil.h"

#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static grt_chan *work, *never;
static _Atomic int stop;
static _Atomic uint64_t forever_id;
static _Atomic long spawned, received;
static grt_wg feeders = GRT_WG_INIT;

__attribute__((noinline)) static void parked_forever(void *arg) {
  (void)arg;
  forever_id = grt_id();
  grt_chan_recv(never, NULL);
  NO_TAIL_CALL();
}

/* Parks on work; every few items it exits and starts its replacement, so
 * stacks of dead goroutines are reused while dumps read them. */
__attribute__((noinline)) static void churner(void *arg) {
  (void)arg;
  int item;
  while (grt_chan_recv(work, &item) == 1) {
    atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
    if (item % 4 == 0) {
      atomic_fetch_add_explicit(&spawned, 1, memory_order_relaxed);
      grt_go(churner, NULL);
      return;
    }
    if (item % 7 == 0) grt_yield();
  }
  NO_TAIL_CALL();
}

static void feeder(void *arg) {
  int item = (int)(intptr_t)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    item++;
    if (grt_chan_send(work, &item) != 0) break;
  }
  grt_wg_done(&feeders);
}

static void bad(const char *why, const char *line, const char *dump) {
  fprintf(stderr, "malformed dump (%s) at line: %.200s\n--- dump starts:\n%.4000s\n", why, line,
          dump);
  exit(1);
}

/* Checks the dump's grammar; returns the number of goroutines, and sets
 * *forever if parked_forever shows parked in its receive. */
static long check_dump(char *d, int *forever, long *unavailable) {
  long n = 0;
  char want[64];
  snprintf(want, sizeof want, "goroutine %llu [chan receive]:\n", (unsigned long long)forever_id);
  char *fb = strstr(d, want);
  if (fb && (fb == d || fb[-1] == '\n')) {
    char *end = strstr(fb, "\n\n");
    if (end) *end = 0;
    if (strstr(fb, "\nparked_forever(...)\n\t") && strstr(fb, "dump_churn.c:")) *forever = 1;
    if (end) *end = '\n';
  }
  enum { HEADER, FRAMES, POS } want_next = HEADER;
  char *copy = strdup(d);
  CHECK(copy);
  for (char *p = copy, *line; (line = strsep(&p, "\n"));) {
    if (!p && !*line) break; /* after the final newline */
    if (want_next == HEADER) {
      unsigned long long id;
      int used = 0;
      if (sscanf(line, "goroutine %llu [%n", &id, &used) != 1 || used == 0 || id == 0)
        bad("header", line, d);
      size_t len = strlen(line);
      if (len < (size_t)used + 3 || strcmp(line + len - 2, "]:") != 0 || line[used] == ']')
        bad("header state", line, d);
      n++;
      want_next = FRAMES;
    } else if (want_next == POS) {
      if (line[0] != '\t') bad("position", line, d);
      char *colon = strrchr(line, ':');
      if (!colon || !isdigit((unsigned char)colon[1])) bad("file:line", line, d);
      want_next = FRAMES;
    } else if (line[0] == 0) {
      want_next = HEADER;
    } else if (strcmp(line, "\tgoroutine running on other thread; stack unavailable") == 0 ||
               strcmp(line, "\tstack unavailable (goroutine moved)") == 0) {
      ++*unavailable;
    } else if (strcmp(line, "...additional frames elided...") == 0) {
    } else if (strncmp(line, "created by ", 11) == 0 && line[11] && line[11] != ' ') {
      want_next = POS; /* Go's "created by fn in goroutine N", then its position */
    } else {
      size_t len = strlen(line);
      if (len < 3 || line[0] == '\t' || line[len - 1] != ')' || !strchr(line, '('))
        bad("function", line, d);
      want_next = POS;
    }
  }
  if (want_next == POS) bad("function without position", "(end)", d);
  free(copy);
  return n;
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  const int nchurn = ASAN_SCALED(10000, 3000), ndumps = 50;
  work = grt_chan_make(sizeof(int), 64);
  never = grt_chan_make(0, 0);
  CHECK(work && never);
  CHECK(grt_go(parked_forever, NULL) == 0);
  for (int i = 0; i < nchurn; i++)
    CHECK(grt_go(churner, NULL) == 0);
  grt_wg_add(&feeders, 2);
  for (int i = 0; i < 2; i++)
    CHECK(grt_go(feeder, (void *)(intptr_t)(i * 1000000)) == 0);

  int forever = 0;
  long total = 0, unavailable = 0;
  int64_t t0 = grt_nanotime();
  for (int i = 0; i < ndumps; i++) {
    char *d = dump_to_string();
    total += check_dump(d, &forever, &unavailable);
    free(d);
    grt_sleep(1000 * 1000);
  }
  int64_t took = grt_nanotime() - t0;
  atomic_store(&stop, 1);
  grt_wg_wait(&feeders);
  grt_chan_close(work);
  printf("%d dumps in %.2f s, %.0f goroutines each, %ld unavailable stacks; "
         "%ld receives, %ld respawns meanwhile\n",
         ndumps, took / 1e9, (double)total / ndumps, unavailable, atomic_load(&received),
         atomic_load(&spawned));
  CHECK(total / ndumps >= nchurn / 2);
  CHECK(atomic_load(&spawned) > 0);
  CHECK(forever);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
