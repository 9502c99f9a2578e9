/*
 * wallprof.c - the goroutine wall-clock profile: at a wall-clock rate,
 * every goroutine's state and stack, one sample each, so that per code
 * path the profile shows where wall time goes, waiting included (fgprof's
 * idea, without stopping the world).
 *
 * A thread of its own (every signal blocked) ticks at hz.  Each tick walks
 * the list of goroutines (sched_allg, no lock) and counts each live one
 * under its stack and a label state=<its state>: running, runnable
 * (waiting for a P: scheduler latency), extcall, or its wait reason (chan
 * receive, select, IO wait, sleep, mutex, ...).  Values: samples/count
 * and wall/nanoseconds (1e9 / hz per sample).
 *
 * Invariants and costs:
 *  - Stacks come from runtime/snapshot.c (the seqlock snapshot the dumps
 *    use): process_vm_readv, no stop-the-world.  A goroutine that has not
 *    run since the last tick (same id, same switch count, not running) has
 *    the same stack and state: its sample is counted again from the cache
 *    in its G (wall_*, touched by this thread alone) without reading its
 *    stack or hashing it.  So a parked goroutine costs a few loads a tick.
 *  - A goroutine running on another thread has no readable stack: it is
 *    counted as running under the function it was started with (its CPU
 *    time and stacks are the CPU profile's).
 *  - Goroutines are found through the runtime's array of every G
 *    (sched_allgs), whose loads can overlap, not its list.  At most
 *    WALL_MAX_PER_TICK goroutines are counted per tick: beyond that, a
 *    run of that many from a random start, each weighted n / cap.  A G
 *    costs about 45 ns a tick on these machines (a cache and TLB miss), so
 *    a parked one in another page each, under load up to 170 ns: the cap keeps a tick under
 *    about 0.2 ms, 2% of a CPU at 100 Hz.
 *  - ctl guards start and stop; the writer is the thread's alone while it
 *    runs, and the stopper's after the join.
 */
#define _GNU_SOURCE
#include "pprof/wallprof.h"

#include "base/lock.h"
#include "base/warn.h"
#include "grt.h"
#include "pprof/pprof.h"
#include "pprof/symbolize.h"
#include "runtime/runtime.h"
#include "runtime/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WALL_MAX_HZ 1000
#define WALL_DEFAULT_HZ 100
#define WALL_MAX_PER_TICK 1000 /* goroutines counted a tick, at most */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static struct {
  pthread_mutex_t ctl;
  bool running;
  pthread_t thread;
  struct note stop;
  pprof_writer *w;
  struct snap_reader *reader;
  struct snap snap;
  uint32_t session;
  int64_t period_ns, start_ns, start_real;
  int fd;
  bool close_fd;
  struct wallprof_stats st;
} wall = {.ctl = PTHREAD_MUTEX_INITIALIZER};

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads gp's stack and state and adds its sample; caches the sample in gp
 * when the goroutine is not running. */
static void sample_new(struct g *gp, uint32_t sw, uint32_t status, int64_t weight) {
  wall.snap.ng = 0;
  wall.snap.npcs = 0;
  if (snap_goroutine(&wall.snap, wall.reader, gp) != 0 || wall.snap.ng == 0) return;
  const struct gsnap *s = &wall.snap.gs[0];
  uintptr_t fn = (uintptr_t)LOAD(gp->fn);
  const uintptr_t *pcs = wall.snap.pcs + s->first;
  int n = s->n;
  if (s->kind != SNAP_FRAMES && fn) {
    pcs = &fn; /* running elsewhere, or kept moving: its function */
    n = 1;
  }
  const char *labels[] = {"state", s->state, NULL};
  uint32_t id;
  if (pprof_writer_add_id(wall.w, pcs, n, labels, weight, weight * wall.period_ns, &id) != 0)
    return;
  wall.st.stacks_read++;
  if (s->kind == SNAP_FRAMES && status != G_RUNNING && LOAD(gp->switches) == sw) {
    gp->wall_gid = (uint32_t)s->id;
    gp->wall_sw = sw;
    gp->wall_session = wall.session;
    gp->wall_sample = id + 1;
  }
}

/* One goroutine, counted weight times. */
static void count_g(struct g *gp, int64_t weight) {
  uint32_t sw = atomic_load_explicit(&gp->switches, memory_order_acquire);
  uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
  if (st != G_RUNNABLE && st != G_RUNNING && st != G_WAITING) return;
  uint64_t id = LOAD(gp->id);
  if (id == 0) return; /* g0s are not goroutines */
  wall.st.goroutine_samples++;
  if (st != G_RUNNING && gp->wall_session == wall.session && gp->wall_sample && gp->wall_sw == sw &&
      gp->wall_gid == (uint32_t)id) {
    pprof_writer_bump(wall.w, gp->wall_sample - 1, weight, weight * wall.period_ns);
    return;
  }
  sample_new(gp, sw, st, weight);
}

static void tick(void) {
  size_t n;
  struct g *const *a = sched_allgs(&n);
  /* Beyond the cap, a run of cap goroutines from a random start (wrapping
   * around), so each is taken with probability cap / n and stands for
   * n / cap of them; a run, not a stride, because what a tick reads of a
   * G is one cache line (runtime.h) that is seldom cached: in array order
   * the loads, fetched 8 goroutines ahead, overlap. */
  size_t take = n < WALL_MAX_PER_TICK ? n : WALL_MAX_PER_TICK;
  size_t start = n > take ? (size_t)((((uint64_t)rt_fastrand() << 32) | rt_fastrand()) % n) : 0;
  int64_t weight = n > take ? (int64_t)((n + take / 2) / take) : 1;
  for (size_t k = 0, i = start; k < take; k++, i = i + 1 == n ? 0 : i + 1) {
    size_t ahead = i + 8 < n ? i + 8 : i + 8 - n;
    if (k + 8 < take) __builtin_prefetch((const char *)a[ahead] + 64);
    count_g(a[i], weight);
  }
  sched_allg_done();
  wall.st.ticks++;
}

static void *wall_main(void *unused) {
  (void)unused;
  int64_t cpu0 = thread_cpu_ns(), next = nanotime();
  for (;;) {
    next += wall.period_ns;
    int64_t now = nanotime();
    if (next < now) next = now; /* fell behind: no burst of ticks */
    note_sleep(&wall.stop, next);
    if (atomic_load_explicit(&wall.stop.key, memory_order_acquire)) break;
    tick();
    wall.st.cpu_ns = thread_cpu_ns() - cpu0;
  }
  return NULL;
}

static int start_locked(const grt_prof_config *cfg) {
  if (wall.running) return -EBUSY;
  int hz = cfg->hz == 0 ? WALL_DEFAULT_HZ : cfg->hz;
  if (hz < 0 || hz > WALL_MAX_HZ || (!cfg->path && cfg->fd < 0)) return -EINVAL;
  int fd = cfg->fd;
  if (cfg->path) {
    fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
  }
  static const char *const types[2] = {"samples", "wall"};
  static const char *const units[2] = {"count", "nanoseconds"};
  wall.period_ns = 1000000000 / hz;
  wall.start_real = realtime_ns();
  wall.w = pprof_writer_new_pair(types, units, 1, wall.period_ns, wall.start_real);
  wall.reader = wall.w ? snap_reader_new() : NULL;
  if (!wall.reader) {
    pprof_writer_free(wall.w);
    wall.w = NULL;
    if (cfg->path) close(fd);
    return -ENOMEM;
  }
  memset(&wall.snap, 0, sizeof wall.snap);
  memset(&wall.st, 0, sizeof wall.st);
  wall.session++;
  if (wall.session == 0) wall.session = 1; /* 0 marks an empty cache */
  wall.fd = fd;
  wall.close_fd = cfg->path != NULL;
  wall.start_ns = nanotime();
  note_clear(&wall.stop);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&wall.thread, NULL, wall_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    snap_reader_free(wall.reader);
    pprof_writer_free(wall.w);
    wall.w = NULL;
    if (cfg->path) close(fd);
    return -err;
  }
  wall.running = true;
  return 0;
}

int wallprof_start(const grt_prof_config *cfg) {
  if (!cfg) return -EINVAL;
  pthread_mutex_lock(&wall.ctl);
  int err = start_locked(cfg);
  pthread_mutex_unlock(&wall.ctl);
  return err;
}

int grt_wallprof_start(const grt_prof_config *cfg) {
  if (!cfg) {
    warn_line("grt: grt_wallprof_start: cfg is NULL");
    return -EINVAL;
  }
  int err = wallprof_start(cfg);
  if (err == -EBUSY)
    warn_line("grt: grt_wallprof_start: a wall-clock profile is already running");
  else if (err == -EINVAL)
    warn_line("grt: grt_wallprof_start: %s", cfg->hz < 0 || cfg->hz > WALL_MAX_HZ
                                                 ? "hz is outside 0..1000"
                                                 : "neither a path nor a file descriptor");
  return err;
}

static int stop_locked(void) {
  if (!wall.running) return -EINVAL;
  note_wakeup(&wall.stop);
  pthread_join(wall.thread, NULL);
  wall.running = false;
  symbolizer *sym = symbolize_open(); /* NULL: addresses only */
  int err = pprof_writer_write(wall.w, sym, nanotime() - wall.start_ns, wall.fd);
  if (sym) symbolize_close(sym);
  pprof_writer_free(wall.w);
  wall.w = NULL;
  snap_reader_free(wall.reader);
  wall.reader = NULL;
  snap_free(&wall.snap);
  if (wall.close_fd && close(wall.fd) != 0 && err == 0) err = -errno;
  return err;
}

static void *stop_ext(void *arg) {
  pthread_mutex_lock(&wall.ctl);
  *(int *)arg = stop_locked();
  pthread_mutex_unlock(&wall.ctl);
  return NULL;
}

int wallprof_stop(void) {
  int err;
  /* Symbolizing takes a while: on a goroutine, as an external call. */
  grt_extcall(stop_ext, &err);
  return err;
}

int grt_wallprof_stop(void) {
  int err = wallprof_stop();
  if (err == -EINVAL) warn_line("grt: grt_wallprof_stop: no wall-clock profile is running");
  return err;
}

void wallprof_stats(struct wallprof_stats *st) {
  pthread_mutex_lock(&wall.ctl);
  *st = wall.st;
  pthread_mutex_unlock(&wall.ctl);
}
