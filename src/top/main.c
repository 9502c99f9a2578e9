/*
 * main.c - grt_main: reads every GRT_* variable that shapes the run, wires
 * the profiler's hooks into the runtime, starts the runtime, then what
 * the environment asks for (CPU profile, /debug/pprof, SIGQUIT dumps), and
 * runs the program's main as goroutine 1.
 *
 * Every variable is parsed by base/env.c: a bad value gives one stderr line
 * naming it and what happens instead, and the program runs on.
 *   GRT_MAXPROCS             Ps (1..1024; default: online CPUs)
 *   GRT_STACK_GUARD_BUDGET   guarded stacks allowed (default: from
 *                            vm.max_map_count); tests force the canary path
 *   GRT_CPUPROFILE[_HZ]      profile the whole run to a file (hz 1..10000)
 *   GRT_CPUPROFILE_ENGINE    perf, timer or auto (default): how CPU time is
 *                            sampled (sampler/cputimer.c)
 *   GRT_BLOCKPROFILE[_RATE]  the block profile of the whole run (rate in ns,
 *                            default 1: every event)
 *   GRT_MUTEXPROFILE[_FRACTION]  the mutex profile (1 in n handoffs, default 1)
 *   GRT_WALLPROFILE[_HZ]     the goroutine wall-clock profile (hz 1..1000,
 *                            default 100)
 *   GRT_DEBUGINFOD           1: the symbolizer may ask debuginfod servers
 *   GRT_PPROF_ADDR           serve /debug/pprof (http.c)
 *   GRT_MAINSTACK            the main goroutine's stack in bytes (64 KiB..1 GiB,
 *                            default 8 MiB, as a C main's; MAP_NORESERVE)
 *   GRT_MAXTHREADS           threads at most (default 10000, as Go); past it,
 *                            stuck Ps are no longer handed off
 *   GRT_DEBUG                comma-separated: "hogs" reports every P handed
 *                            off from a goroutine that held it, with its stack;
 *                            "profiler" says why the perf engine was refused
 *   GRT_PPROF_REQUEST_TIMEOUT  seconds a /debug/pprof connection has for its
 *                            whole request (1..3600, default 5); read by
 *                            http.c when the server starts, so it holds for
 *                            grt_pprof_serve too
 *   GRT_DEBUGINFOD           1: the symbolizer may download debug files from
 *                            the debuginfod servers of DEBUGINFOD_URLS
 *                            (default 0: this machine's files only)
 */
#define _GNU_SOURCE
#include "top/top.h"

#include "base/env.h"
#include "base/warn.h"
#include "grt.h"
#include "pprof/blockprof.h"
#include "pprof/symbolize.h"
#include "pprof/wallprof.h"
#include "runtime/runtime.h"
#include "sampler/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXPROCS_LIMIT 1024
#define PROF_DEFAULT_HZ 100
#define MAXTHREADS_DEFAULT 10000     /* as Go's debug.SetMaxThreads */
#define HANDOFF_NS 10000000          /* as Go's forcePreemptNS */
#define MAINSTACK_DEFAULT (8L << 20) /* a C main's usual stack (ulimit -s) */

/* Is word one of GRT_DEBUG's comma-separated words? */
static bool debug_has(const char *word) {
  const char *s = getenv("GRT_DEBUG");
  size_t n = strlen(word);
  for (; s && *s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
    if (strncmp(s, word, n) == 0 && (s[n] == ',' || s[n] == 0)) return true;
  return false;
}

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > MAXPROCS_LIMIT ? MAXPROCS_LIMIT : (int)n);
}

/* GRT_MAXPROCS, or the number of online CPUs; quiet unless warn. */
static int maxprocs_from_env(bool warn) {
  char if_bad[64];
  snprintf(if_bad, sizeof if_bad, "using %d (online CPUs)", online_cpus());
  long v = online_cpus();
  env_int("GRT_MAXPROCS", 1, MAXPROCS_LIMIT, &v, warn ? if_bad : NULL);
  return (int)v;
}

int grt_maxprocs(void) {
  int n = sched_nprocs();
  return n ? n : maxprocs_from_env(false);
}

/* GRT_CPUPROFILE_ENGINE: perf, timer or auto (the default: timers up to
 * 250 Hz, perf above where the kernel allows it).  A bad value is one
 * line, and auto. */
static void engine_from_env(void) {
  const char *e = getenv("GRT_CPUPROFILE_ENGINE");
  enum cputimer_engine want = CPUTIMER_AUTO;
  if (e && strcmp(e, "perf") == 0)
    want = CPUTIMER_PERF;
  else if (e && strcmp(e, "timer") == 0)
    want = CPUTIMER_TIMER;
  else if (e && *e && strcmp(e, "auto") != 0)
    warn_line("grt: GRT_CPUPROFILE_ENGINE=\"%.32s\" is not perf, timer or auto; using auto", e);
  sampler_set_engine(want);
  sampler_debug_engine(debug_has("profiler"));
}

/* GRT_CPUPROFILE=path [GRT_CPUPROFILE_HZ=n]: profile the whole run.  A bad
 * value leaves profiling off with one line on stderr; the program runs on. */
static bool cpuprofile_from_env(void) {
  const char *path = getenv("GRT_CPUPROFILE");
  if (!path || !*path) return false;
  long hz = PROF_DEFAULT_HZ;
  const char *hzs = getenv("GRT_CPUPROFILE_HZ");
  if (hzs && *hzs && !env_int("GRT_CPUPROFILE_HZ", 1, SAMPLER_MAX_HZ, &hz, "CPU profiling off"))
    return false;
  int err = grt_prof_start(&(grt_prof_config){.path = path, .hz = (int)hz});
  if (err)
    warn_line("grt: GRT_CPUPROFILE=\"%s\": cannot start CPU profiling: %s; CPU profiling off", path,
              strerror(-err));
  return err == 0;
}

/* ---- the other profiles of the whole run ----
 * Each file is opened (created, truncated) when grt_main starts, so a bad
 * path is said at once and that profile stays off; the profiles are
 * written when the process exits through grt_main, or on the first SIGINT
 * or SIGTERM (signals.c), whichever comes first. */
static struct {
  int block_fd, mutex_fd;
  bool wall;
  pthread_mutex_t mu;
} envprof = {-1, -1, false, PTHREAD_MUTEX_INITIALIZER};

/* The file GRT_<name>PROFILE names, opened; -1 (with one line) if none. */
static int profile_file(const char *var, const char *what) {
  const char *path = getenv(var);
  if (!path || !*path) return -1;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    warn_line("grt: %s=\"%s\": cannot open: %s; %s profile off", var, path, strerror(errno), what);
  return fd;
}

static bool profiles_from_env(void) {
  long rate = 1, frac = 1, hz = 100;
  envprof.block_fd = profile_file("GRT_BLOCKPROFILE", "block");
  if (envprof.block_fd >= 0) {
    env_int("GRT_BLOCKPROFILE_RATE", 1, 1L << 40, &rate, "using 1 (every event)");
    grt_set_block_profile_rate(rate);
  }
  envprof.mutex_fd = profile_file("GRT_MUTEXPROFILE", "mutex");
  if (envprof.mutex_fd >= 0) {
    env_int("GRT_MUTEXPROFILE_FRACTION", 1, 1L << 30, &frac, "using 1 (every handoff)");
    grt_set_mutex_profile_fraction((int)frac);
  }
  const char *wall = getenv("GRT_WALLPROFILE");
  if (wall && *wall) {
    env_int("GRT_WALLPROFILE_HZ", 1, 1000, &hz, "using 100");
    int err = grt_wallprof_start(&(grt_prof_config){.path = wall, .hz = (int)hz});
    if (err)
      warn_line("grt: GRT_WALLPROFILE=\"%s\": cannot start: %s; wall profile off", wall,
                strerror(-err));
    envprof.wall = err == 0;
  }
  return envprof.block_fd >= 0 || envprof.mutex_fd >= 0 || envprof.wall;
}

static void write_env_profile(int *fd, int (*write_fn)(int), const char *what) {
  if (*fd < 0) return;
  int err = write_fn(*fd);
  if (close(*fd) != 0 && !err) err = -errno;
  *fd = -1;
  if (err) warn_line("grt: writing the %s profile failed: %s", what, strerror(-err));
}

void top_profiles_flush(void) {
  pthread_mutex_lock(&envprof.mu);
  write_env_profile(&envprof.block_fd, grt_block_profile_write, "block");
  write_env_profile(&envprof.mutex_fd, grt_mutex_profile_write, "mutex");
  if (envprof.wall) {
    int err = wallprof_stop();
    if (err) warn_line("grt: writing the wall profile failed: %s", strerror(-err));
    envprof.wall = false;
  }
  pthread_mutex_unlock(&envprof.mu);
}

static void flush_on_g0(void *unused) {
  (void)unused;
  top_profiles_flush();
}

static void flush_at_exit(void) {
  /* On whatever stack exit(3) was called from: symbolizing needs g0's. */
  sched_systemstack(flush_on_g0, NULL);
}

int grt_main(int (*main_fn)(int, char **), int argc, char **argv) {
  if (!main_fn) {
    warn_line("grt: grt_main: main_fn is NULL");
    return -EINVAL;
  }
  if (sched_started()) {
    warn_line("grt: grt_main called twice");
    return -EBUSY;
  }
  struct sched_config cfg = {.nprocs = maxprocs_from_env(true),
                             .stack_guard_budget = -1,
                             .max_threads = MAXTHREADS_DEFAULT,
                             .handoff_ns = HANDOFF_NS,
                             .debug_hogs = debug_has("hogs")};
  env_int("GRT_STACK_GUARD_BUDGET", 0, 1L << 30, &cfg.stack_guard_budget,
          "using the budget from vm.max_map_count");
  env_int("GRT_MAXTHREADS", 2, 1L << 20, &cfg.max_threads, "using 10000");
  long main_stack = MAINSTACK_DEFAULT;
  env_int("GRT_MAINSTACK", 64L << 10, 1L << 30, &main_stack, "using 8388608 (8 MiB)");
  cfg.main_stack = (size_t)main_stack;
  long debuginfod = 0;
  env_int("GRT_DEBUGINFOD", 0, 1, &debuginfod, "debuginfod off");
  symbolize_set_debuginfod(debuginfod == 1); /* before anything symbolizes */
  struct sched_hooks hooks = *sampler_hooks();
  hooks.blocked = blockprof_blocked;
  hooks.mutex_handoff = blockprof_mutex_handoff;
  sched_set_hooks(&hooks);
  int err = sched_init(&cfg);
  if (err == -EBUSY) {
    warn_line("grt: grt_main called twice");
    return err;
  }
  if (err) return err;
  sampler_init_signal(); /* a SIGPROF before any profile must not kill us */
  engine_from_env();
  bool profiling = cpuprofile_from_env(); /* arms m0, the only M so far */
  if (profiles_from_env()) {
    atexit(flush_at_exit);
    profiling = true;
  }
  signals_install(profiling);
  http_from_env();
  sched_run_main(main_fn, argc, argv);
}
