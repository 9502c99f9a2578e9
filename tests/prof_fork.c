/*
 * prof_fork: fork and exec while profiling at 1000 Hz, with a large touched
 * heap (so each fork copies page tables for a while, long enough for a
 * SIGPROF to land in the middle of it every time: the kernel restarts an
 * interrupted fork, and Go once looped forever there).
 *   - 10 x (fork + exec /bin/true) from a goroutine while two others burn
 *     CPU: each finishes, and the profile parses afterwards;
 *   - a forked child (no exec) installs its own SIGPROF counter and burns
 *     300 ms of CPU: it gets no SIGPROF, since timers are not inherited
 *     and the child starts with profiling off.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"
#include "pprof_raw.h"

#define HZ 1000

volatile unsigned long sink;
static struct pprof_burners burners; /* background load */

static _Atomic int child_sigprofs;
static void count_sigprof(int sig) {
  (void)sig;
  atomic_fetch_add(&child_sigprofs, 1);
}

/* fork + exec + wait, as external code: the M blocks in waitpid. */
static void *fork_exec(void *unused) {
  (void)unused;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
  }
  if (pid < 0) return (void *)(intptr_t)-1;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return (void *)(intptr_t)-1;
  return (void *)(intptr_t)(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

/* A forked child that burns CPU and reports how many SIGPROFs it got. */
static void *fork_burn(void *unused) {
  (void)unused;
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGPROF, count_sigprof);
    int64_t end = pprof_thread_cpu_ns() + 300000000;
    while (pprof_thread_cpu_ns() < end)
      for (int i = 0; i < 20000; i++)
        sink += (unsigned long)i;
    _exit(atomic_load(&child_sigprofs) > 0 ? 3 : 0);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return (void *)(intptr_t)-1;
  return (void *)(intptr_t)(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  size_t heap = (size_t)ASAN_SCALED(1024, 256) << 20;
  char *mem = mmap(NULL, heap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(mem != MAP_FAILED);
  for (size_t i = 0; i < heap; i += 4096)
    mem[i] = 1; /* touched: fork copies its page tables */

  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("fork.pb.gz"));
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  pprof_burners_start(&burners, 2);
  for (int i = 0; i < 10; i++)
    CHECK(grt_extcall(fork_exec, NULL) == (void *)0);
  int r = (int)(intptr_t)grt_extcall(fork_burn, NULL);
  if (r != 0) fprintf(stderr, "forked child: status %d (3: it got SIGPROF)\n", r);
  CHECK(r == 0);
  pprof_burners_stop(&burners);
  CHECK(grt_prof_stop() == 0);
  munmap(mem, heap);

  struct pprof_raw pr;
  pprof_load(path, &pr);
  CHECK(pprof_check_cpu_profile(&pr, HZ) > 0);
  pprof_free(&pr);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("2", run, argc, argv);
}
