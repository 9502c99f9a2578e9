/*
 * lateness: wake-up lateness of a 1 ms ticker while other goroutines hog
 * the Ps.  GRT_MAXPROCS=2.  bench_lateness <scenario> [seconds], where the
 * scenario is one of
 *   idle     nothing else runs (the baseline)
 *   spin     4 goroutines each run a plain CPU loop, never calling grt,
 *            for the whole run
 *   syscall  4 goroutines each loop on a raw blocking system call, then
 *            grt_yield() (goroutine work between two calls, so each call
 *            starts with the goroutine holding a P): goroutines 0 and 1
 *            read(2) one byte from their own pipe, which a plain pthread
 *            writes to every 50 ms; goroutines 2 and 3 nanosleep(2) 20 ms.
 *            Not through grt_extcall: plain C calls, as in code that does
 *            not know about grt.
 *   storm    64 plain pthreads loop on usleep(50) and grt_callback of a
 *            few microseconds of work (2000 LCG steps), as
 *            tests/live_cb_storm.c does
 * The load starts first; then a ticker goroutine calls grt_sleep(1 ms)
 * repeatedly for the given seconds (default 2) and records, per tick,
 * lateness = the time it runs again (grt_nanotime) - (the time before the
 * sleep + 1 ms).  At the end of the ticking, with the load still running,
 * it counts the process's threads (/proc/self/task) and reads VmRSS; then
 * it stops the load and waits for it.  Prints
 *   RESULT lateness_<scenario>_p50_us, _p99_us, _max_us   (nearest rank)
 *   RESULT threads_<scenario>, RESULT rss_<scenario>_kib
 * and one informational line.  Go twin: bench/go/lateness (GOMAXPROCS=2,
 * time.Sleep, plain loops, syscall.Read and syscall.Nanosleep, C pthreads
 * calling an exported Go function).
 */
#define _GNU_SOURCE
#include "benchutil.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOGS 4
#define STORM_THREADS 64
#define TICK_NS 1000000LL
#define MAX_TICKS 100000

static const char *scenario;
static int64_t duration_ns = 2000000000LL;

static _Atomic int stop;
static volatile unsigned long sink;
static grt_wg hogs_done;
static grt_wg ticker_done;
static int64_t lateness[MAX_TICKS];
static long nticks;
static int pipes[HOGS][2];
static pthread_t threads[STORM_THREADS];
static int nthreads;

/* ---- the load ----------------------------------------------------------- */

static void spinner(void *arg) {
  unsigned long x = (uintptr_t)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed))
    for (int i = 0; i < 1000; i++)
      x = x * 6364136223846793005ul + 1;
  sink += x;
  grt_wg_done(&hogs_done);
}

static void blocker(void *arg) {
  int i = (int)(uintptr_t)arg;
  char c;
  while (!atomic_load(&stop)) {
    if (i < 2) {
      if (read(pipes[i][0], &c, 1) <= 0) break; /* 0: the writer closed it */
    } else {
      struct timespec ts = {0, 20000000};
      nanosleep(&ts, NULL);
    }
    grt_yield();
  }
  grt_wg_done(&hogs_done);
}

/* The plain pthread that feeds the readers' pipes, then closes them. */
static void *writer(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 2; i++)
      if (write(pipes[i][1], "x", 1) != 1) perror("lateness: write");
  }
  for (int i = 0; i < 2; i++)
    close(pipes[i][1]);
  return NULL;
}

static void *cb_work(void *arg) {
  unsigned long x = (uintptr_t)arg;
  for (int i = 0; i < 2000; i++)
    x = x * 6364136223846793005ul + 1;
  sink += x;
  return NULL;
}

static void *storm(void *arg) {
  while (!atomic_load(&stop)) {
    usleep(50);
    grt_callback(cb_work, arg);
  }
  return NULL;
}

static void *join_all(void *arg) {
  (void)arg;
  for (int i = 0; i < nthreads; i++)
    pthread_join(threads[i], NULL);
  return NULL;
}

/* ---- the ticker --------------------------------------------------------- */

static void ticker(void *arg) {
  (void)arg;
  int64_t start = grt_nanotime(), now = start;
  while (now - start < duration_ns && nticks < MAX_TICKS) {
    int64_t deadline = now + TICK_NS;
    grt_sleep(TICK_NS);
    now = grt_nanotime();
    lateness[nticks++] = now - deadline;
  }
  grt_wg_done(&ticker_done);
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% of the values at or
 * below it (bench/go/lateness computes the same). */
static double pct_us(double p) {
  long k = (long)((p * nticks + 99) / 100); /* ceil(p * n / 100) */
  if (k < 1) k = 1;
  return lateness[k - 1] / 1e3;
}

static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  fclose(f);
  return kib;
}

static int run(void) {
  int spin = !strcmp(scenario, "spin"), sys = !strcmp(scenario, "syscall"),
      cb = !strcmp(scenario, "storm");
  if (!spin && !sys && !cb && strcmp(scenario, "idle")) {
    fprintf(stderr, "usage: bench_lateness idle|spin|syscall|storm [seconds]\n");
    return 2;
  }
  if (spin || sys) {
    grt_wg_add(&hogs_done, HOGS);
    for (int i = 0; i < HOGS; i++) {
      if (sys && i < 2 && pipe(pipes[i]) != 0) {
        perror("lateness: pipe");
        return 1;
      }
      /* a spinner's argument seeds its loop; a blocker's is its index */
      void *arg = (void *)(uintptr_t)(spin ? i + 1 : i);
      if (grt_go(spin ? spinner : blocker, arg) != 0) {
        fprintf(stderr, "lateness: grt_go failed\n");
        return 1;
      }
    }
  }
  int want = sys ? 1 : cb ? STORM_THREADS : 0;
  for (; nthreads < want; nthreads++) {
    int rc = pthread_create(&threads[nthreads], NULL, sys ? writer : storm,
                            (void *)(uintptr_t)(nthreads + 1));
    if (rc != 0) {
      fprintf(stderr, "lateness: pthread_create: %s\n", strerror(rc));
      return 1;
    }
  }

  grt_wg_add(&ticker_done, 1);
  if (grt_go(ticker, NULL) != 0) {
    fprintf(stderr, "lateness: grt_go failed\n");
    return 1;
  }
  grt_wg_wait(&ticker_done);
  int nthr = count_threads();
  long rss = rss_kib();

  atomic_store(&stop, 1);
  grt_extcall(join_all, NULL); /* the storm and the writer: plain pthreads */
  if (spin || sys) grt_wg_wait(&hogs_done);

  qsort(lateness, (size_t)nticks, sizeof lateness[0], cmp64);
  printf("lateness %s: %ld ticks in %.1f s\n", scenario, nticks, duration_ns / 1e9);
  printf("RESULT lateness_%s_p50_us %.1f\n", scenario, pct_us(50));
  printf("RESULT lateness_%s_p99_us %.1f\n", scenario, pct_us(99));
  printf("RESULT lateness_%s_max_us %.1f\n", scenario, pct_us(100));
  printf("RESULT threads_%s %d\n", scenario, nthr);
  printf("RESULT rss_%s_kib %ld\n", scenario, rss);
  return 0;
}

int main(int argc, char **argv) {
  scenario = argc > 1 ? argv[1] : "idle";
  if (argc > 2) duration_ns = (int64_t)(atof(argv[2]) * 1e9);
  if (duration_ns <= 0) duration_ns = 2000000000LL;
  return bench_main("2", run, argc, argv);
}
