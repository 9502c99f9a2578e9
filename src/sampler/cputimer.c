/*
 * cputimer.c - one SIGPROF source per thread, on that thread's CPU time:
 * for every M (armed when a session starts, and when a thread becomes an
 * M during one), and for threads grt did not create (found by the
 * collector's scan of /proc/self/task).  Two engines:
 *  - perf (auto's choice above 250 Hz, where the kernel allows it): a
 *    perf_event_open
 *    software task-clock event per thread with a sample period in ns,
 *    delivered as SIGPROF to that thread (O_ASYNC, F_SETSIG, F_SETOWN_EX
 *    with F_OWNER_TID), as async-profiler's cpu engine.  It fires at the
 *    exact rate, kernel time included, each signal one period.  It stays
 *    enabled (no PERF_EVENT_IOC_REFRESH from the handler): SIGPROF does
 *    not queue, so a signal that finds another pending is lost, and an
 *    event that waited for a refresh from a lost signal would stop for
 *    good.
 *  - timer: a POSIX timer on the thread's CPU clock (timer_create with
 *    SIGEV_THREAD_ID).  The kernel checks those once per tick (250 Hz
 *    here), so above that rate a signal stands for several periods
 *    (si_overrun): the total stays right, the resolution does not.
 * A thread whose perf event cannot be opened (fds exhausted...) gets a
 * timer instead; the handler takes both.
 *
 * Invariants:
 *  - An M's timer fields (prof_tid, prof_ktimer, prof_timer_gen) are
 *    guarded by its prof_lock, which only normal code takes: start, stop,
 *    an M binding to or leaving its thread.  The handler never does; it
 *    reads prof_ktimer (to tell its M's timer from a foreign one) and
 *    prof_ring, each with one atomic load.
 *  - An M's ring is allocated once, before its first timer, and kept for
 *    the M's life: a handler may hold a pointer to it at any time.
 *  - The foreign-thread table is the collector's alone; stop uses it
 *    after joining the collector.
 */
#define _GNU_SOURCE
#include "sampler/sampler.h"

#include "base/warn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_FOREIGN 1024     /* threads grt did not create, with a timer each */
#define CPUTIMER_TICK_HZ 250 /* Debian's kernels (CONFIG_HZ_250): CPU timers' resolution */

static int64_t period_ns = 10000000;
static bool use_perf; /* this session's engine (cputimer_choose_engine) */
static bool perf_refused_for_test;

void cputimer_set_period(int64_t ns) {
  period_ns = ns;
}

void cputimer_test_refuse_perf(bool refuse) {
  perf_refused_for_test = refuse;
}

/* A task-clock event on thread tid that sends SIGPROF to tid every
 * period_ns of its CPU time; the fd, or -errno. */
static int thread_perf_new(pid_t tid) {
  if (perf_refused_for_test) return -EACCES;
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.sample_period = (uint64_t)period_ns;
  a.wakeup_events = 1; /* a signal at every overflow */
  a.disabled = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return -errno;
  struct f_owner_ex owner = {F_OWNER_TID, tid};
  if (fcntl(fd, F_SETFL, O_ASYNC) != 0 || fcntl(fd, F_SETSIG, SIGPROF) != 0 ||
      fcntl(fd, F_SETOWN_EX, &owner) != 0 || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

enum cputimer_engine cputimer_choose_engine(enum cputimer_engine want, const char **why) {
  *why = NULL;
  use_perf = false;
  /* auto: CPU timers deliver every period up to the kernel's tick rate and
   * cost less per signal (a perf event's interrupt is dearer, on a VM
   * especially: bench/README.md); above it only perf keeps the rate. */
  if (want == CPUTIMER_TIMER ||
      (want == CPUTIMER_AUTO && period_ns >= 1000000000 / CPUTIMER_TICK_HZ))
    return CPUTIMER_TIMER;
  /* A probe on this thread: refused by seccomp (containers) or by
   * perf_event_paranoid, it says so here. */
  int fd = thread_perf_new((pid_t)syscall(SYS_gettid));
  if (fd < 0) {
    *why = strerror(-fd);
    return CPUTIMER_TIMER;
  }
  close(fd);
  use_perf = true;
  return CPUTIMER_PERF;
}

/* A SIGPROF timer on the CPU clock of thread tid, first expiring at a
 * random point within one period (so threads started together do not all
 * sample on the same tick, and a short-lived one still gets its chance).
 * The clock id is what pthread_getcpuclockid computes, so any thread can
 * arm a timer for another: the starter arms Ms busy running goroutines,
 * and the collector arms threads grt did not create.  Returns the kernel
 * timer id (which is what glibc's timer_t holds for SIGEV_THREAD_ID
 * timers, and what si_timerid carries), or -1. */
static int thread_timer_new(pid_t tid) {
  clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 6);
  struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGPROF};
  ev._sigev_un._tid = tid;
  timer_t t;
  if (timer_create(clock, &ev, &t) != 0) return -1; /* errno: EINVAL, the thread is gone */
  /* qemu-user hands out its own ids, 0x0caf0000 | index (linux-user's
   * TIMER_MAGIC), while the signal carries the host kernel's (a small
   * number): no SIGPROF would match its thread's timer, and every sample
   * would be dropped.  A kernel's ids count up from 0 per process. */
  if (((uintptr_t)t & 0xffff0000u) == 0x0caf0000u)
    atomic_store_explicit(&sigprof.timerid_opaque, true, memory_order_relaxed);
  int64_t first = 1 + (int64_t)(rt_fastrand() % (uint64_t)period_ns);
  struct itimerspec its = {
      .it_interval = {period_ns / 1000000000, period_ns % 1000000000},
      .it_value = {first / 1000000000, first % 1000000000},
  };
  if (timer_settime(t, 0, &its, NULL) != 0) {
    int err = errno;
    timer_delete(t);
    errno = err;
    return -1;
  }
  return (int)(intptr_t)t;
}

/* ---- threads left unsampled ----------------------------------------------
 * A thread that gets no source is not sampled: its CPU time is missing
 * from the profile.  timer_create fails with EAGAIN where the process has
 * too many timers (qemu-user allows 32 per process) or the user too many
 * pending and preallocated signals (RLIMIT_SIGPENDING), and with ENOMEM.
 * Each such thread is counted once per session and its tid kept (the
 * first UNSAMPLED_LISTED); the first is said on stderr, once a session, and
 * the profile's comments list them all (cputimer_unsampled_note).  A
 * thread that exited meanwhile (EINVAL, ESRCH) is not unsampled.  Normal
 * code only: the M that starts (under its prof_lock), the starter, the
 * collector. */
#define UNSAMPLED_LISTED 32

static struct {
  rt_lock lock;
  int n, err; /* threads; the first one's errno */
  pid_t tids[UNSAMPLED_LISTED];
} unsampled;

static void unsampled_add(pid_t tid, int err) {
  if (err == EINVAL || err == ESRCH) return;
  rt_lock_acquire(&unsampled.lock);
  int n = unsampled.n, known = 0;
  for (int i = 0; i < n && i < UNSAMPLED_LISTED; i++)
    known |= unsampled.tids[i] == tid;
  if (!known) {
    if (n < UNSAMPLED_LISTED) unsampled.tids[n] = tid;
    if (n == 0) unsampled.err = err;
    unsampled.n = n + 1;
  }
  rt_lock_release(&unsampled.lock);
  if (!known && n == 0)
    warn_line("grt: CPU profiler: thread %d gets no CPU timer (%s%s): its CPU time is not "
              "sampled (said once; the profile's comments list every such thread)",
              (int)tid, strerror(err),
              err == EAGAIN ? ": the limit on timers (qemu-user: 32 per process) or "
                              "RLIMIT_SIGPENDING"
                            : "");
}

void cputimer_unsampled_reset(void) {
  rt_lock_acquire(&unsampled.lock);
  unsampled.n = 0;
  unsampled.err = 0;
  rt_lock_release(&unsampled.lock);
}

int cputimer_unsampled_note(char *buf, size_t cap) {
  rt_lock_acquire(&unsampled.lock);
  int n = unsampled.n;
  size_t len = 0;
  if (n > 0 && cap > 0) {
    len = (size_t)snprintf(buf, cap, "grt: %d thread%s not sampled (no CPU timer: %s): tid", n,
                           n == 1 ? "" : "s", strerror(unsampled.err));
    for (int i = 0; i < n && i < UNSAMPLED_LISTED && len < cap; i++)
      len += (size_t)snprintf(buf + len, cap - len, "%s %d", i ? "," : "", (int)unsampled.tids[i]);
    if (n > UNSAMPLED_LISTED && len < cap) snprintf(buf + len, cap - len, ", ...");
  }
  rt_lock_release(&unsampled.lock);
  return n;
}

static void thread_timer_delete(int ktimer) {
  timer_delete((timer_t)(intptr_t)ktimer);
}

/* A thread's source: a perf fd (*perf_fd) or a timer (the return), -1 for
 * neither. */
static int thread_source_new(pid_t tid, int *perf_fd) {
  *perf_fd = -1;
  if (use_perf) {
    int fd = thread_perf_new(tid);
    if (fd >= 0) {
      *perf_fd = fd;
      return -1;
    }
  }
  int k = thread_timer_new(tid);
  if (k < 0) unsampled_add(tid, errno);
  return k;
}

static void thread_source_delete(int ktimer, int perf_fd) {
  if (perf_fd >= 0) close(perf_fd);
  if (ktimer >= 0) thread_timer_delete(ktimer);
}

/* Under mp->prof_lock: makes mp's timer match session gen (0: none). */
static void m_timer_set(struct m *mp, uint32_t gen) {
  if (mp->prof_timer_gen == gen) return;
  int old = atomic_load_explicit(&mp->prof_ktimer, memory_order_relaxed);
  int old_fd = atomic_load_explicit(&mp->prof_perf_fd, memory_order_relaxed);
  atomic_store_explicit(&mp->prof_ktimer, -1, memory_order_relaxed);
  atomic_store_explicit(&mp->prof_perf_fd, -1, memory_order_relaxed);
  thread_source_delete(old, old_fd);
  mp->prof_timer_gen = 0;
  pid_t tid = atomic_load_explicit(&mp->prof_tid, memory_order_relaxed);
  if (gen == 0 || tid == 0) return;
  int fd, k = thread_source_new(tid, &fd);
  if (k < 0 && fd < 0) return;
  atomic_store_explicit(&mp->prof_ktimer, k, memory_order_relaxed);
  atomic_store_explicit(&mp->prof_perf_fd, fd, memory_order_relaxed);
  mp->prof_timer_gen = gen;
}

static struct prof_ring *ring_new(void) {
  void *p = mmap(NULL, sizeof(struct prof_ring), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Under mp->prof_lock: a ring (allocated once, kept for the M's life) and
 * the timer for session gen (0: none), and the record of both for
 * cputimer_m_started's lock-free check. */
static void m_prepare(struct m *mp, uint32_t gen) {
  if (gen != 0 && !atomic_load_explicit(&mp->prof_ring, memory_order_relaxed)) {
    struct prof_ring *r = ring_new();
    if (r) atomic_store_explicit(&mp->prof_ring, r, memory_order_release);
  }
  m_timer_set(mp, gen);
  atomic_store_explicit(&mp->prof_armed_gen, gen, memory_order_relaxed);
}

void cputimer_m_started(struct m *mp) {
  /* Fast path (every callback from a foreign thread): nothing changed. */
  if (atomic_load_explicit(&sigprof.gen, memory_order_relaxed) ==
          atomic_load_explicit(&mp->prof_armed_gen, memory_order_relaxed) &&
      atomic_load_explicit(&mp->prof_tid, memory_order_relaxed) == mp->tid)
    return;
  rt_lock_acquire(&mp->prof_lock);
  atomic_store_explicit(&mp->prof_tid, mp->tid, memory_order_relaxed);
  m_prepare(mp, atomic_load(&sigprof.gen));
  rt_lock_release(&mp->prof_lock);
}

void cputimer_m_exiting(struct m *mp) {
  rt_lock_acquire(&mp->prof_lock);
  m_prepare(mp, 0);
  atomic_store_explicit(&mp->prof_tid, 0, memory_order_relaxed);
  rt_lock_release(&mp->prof_lock);
}

void cputimer_set_all(uint32_t gen) {
  for (struct m *mp = sched_allm(); mp; mp = mp->alllink) {
    rt_lock_acquire(&mp->prof_lock);
    m_prepare(mp, gen);
    rt_lock_release(&mp->prof_lock);
  }
}

/* ---- threads grt did not create ------------------------------------------
 * The collector lists /proc/self/task every period and gives every thread
 * that is not an M (nor sysmon, nor itself) a timer of its own; their
 * samples go to the shared slots as {pc, grt._ExternalCode}.  A thread that
 * has become an M keeps both timers until the next scan deletes the
 * foreign one; meanwhile the handler counts only its M's (by timer id). */

static struct {
  pid_t tid;
  int ktimer, perf_fd;
  bool seen;
} foreign[MAX_FOREIGN];
static int nforeign;

/* The tids of threads bound to Ms, snapshot once per scan. */
static pid_t *m_tids;
static int n_m_tids, cap_m_tids;

static void snapshot_m_tids(void) {
  n_m_tids = 0;
  for (struct m *mp = sched_allm(); mp; mp = mp->alllink) {
    pid_t tid = atomic_load_explicit(&mp->prof_tid, memory_order_relaxed);
    if (tid == 0) continue;
    if (n_m_tids == cap_m_tids) {
      int cap = cap_m_tids ? 2 * cap_m_tids : 64;
      pid_t *bigger = realloc(m_tids, (size_t)cap * sizeof *bigger);
      if (!bigger) return; /* a thread missed now is seen next scan */
      m_tids = bigger;
      cap_m_tids = cap;
    }
    m_tids[n_m_tids++] = tid;
  }
}

static bool is_m_tid(pid_t tid) {
  for (int i = 0; i < n_m_tids; i++)
    if (m_tids[i] == tid) return true;
  return false;
}

static void foreign_remove(int i) {
  thread_source_delete(foreign[i].ktimer, foreign[i].perf_fd);
  foreign[i] = foreign[--nforeign];
}

void cputimer_scan_foreign(pid_t self) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  for (int i = 0; i < nforeign; i++)
    foreign[i].seen = false;
  snapshot_m_tids();
  pid_t sysmon = sched_sysmon_tid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long v = strtol(e->d_name, &end, 10);
    if (*end || v <= 0) continue;
    pid_t tid = (pid_t)v;
    if (tid == self || tid == sysmon) continue;
    int i = 0;
    while (i < nforeign && foreign[i].tid != tid)
      i++;
    if (i < nforeign) {
      foreign[i].seen = true;
      continue;
    }
    if (nforeign == MAX_FOREIGN || is_m_tid(tid)) continue;
    /* Kept without a source too (unsampled: not asked again while it
     * lives, nor counted twice). */
    int fd, k = thread_source_new(tid, &fd);
    foreign[nforeign++] =
        (typeof(foreign[0])){.tid = tid, .ktimer = k, .perf_fd = fd, .seen = true};
  }
  closedir(d);
  /* Gone, or an M now (its own timer counts): no foreign timer. */
  for (int i = 0; i < nforeign;)
    if (!foreign[i].seen || is_m_tid(foreign[i].tid))
      foreign_remove(i);
    else
      i++;
}

void cputimer_foreign_stop(void) {
  while (nforeign > 0)
    foreign_remove(0);
  free(m_tids);
  m_tids = NULL;
  n_m_tids = cap_m_tids = 0;
}
