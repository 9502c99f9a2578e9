/*
 * testutil.h - helpers shared by the test programs in tests/ (header-only).
 *
 *   CHECK(x)              fail the test (file:line and x on stderr, exit 1)
 *   ASAN_SCALED(full, a)  a count, smaller under ASan to keep tests quick
 *   main_with_procs(...)  grt_main on a fixed number of Ps (GRT_MAXPROCS)
 *   test_emulated()       under qemu-user (a cross build's ctest sets
 *                         GRT_TEST_EMULATED=1): checks it cannot support
 *                         are skipped, and say so
 *   self_command(args)    the argv that runs this test program again
 *   run_self(...)         re-run this test program as a child process and
 *                         capture its stdout and stderr
 *   process_cpu_ns()      user + system CPU of the whole process (getrusage)
 *   dump_to_string()      grt_dump of every goroutine, as a string
 *   dump_block_of(d, id)  one goroutine's block of it
 *   stderr_capture_begin/end, ONE_LINE(call, stmt)
 *                         this process's stderr around some calls: how
 *                         many lines they wrote, or that a misuse wrote
 *                         exactly one line naming its call
 *
 * Include it after <grt.h>, with _GNU_SOURCE defined, as every test does.
 */
#ifndef GRT_TESTUTIL_H
#define GRT_TESTUTIL_H

#include <grt.h>

#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) {                                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #x);                        \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* ASan builds are slower and use more memory: tests scale big counts down. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_SCALED(full, asan) (asan)
#else
#define ASAN_SCALED(full, asan) (full)
#endif

/* Under an emulator (CMakeLists.txt sets GRT_TEST_EMULATED for a cross
 * build's tests): qemu-user delivers a CPU timer's signal about once per
 * 3-4 expiries and only between translated blocks, allows 32 POSIX timers
 * per process, and runs code 10-50 times slower. */
static inline bool test_emulated(void) {
  const char *e = getenv("GRT_TEST_EMULATED");
  return e && *e && strcmp(e, "0") != 0;
}

/* Sets GRT_MAXPROCS=procs (overriding the environment) and runs fn as the
 * main goroutine. */
static inline int main_with_procs(const char *procs, int (*fn)(int, char **), int argc,
                                  char **argv) {
  setenv("GRT_MAXPROCS", procs, 1);
  return grt_main(fn, argc, argv);
}

/* User + system CPU time of the whole process, in nanoseconds. */
static inline int64_t process_cpu_ns(void) {
  struct rusage ru;
  CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* grt_dump of every goroutine, NUL-terminated (malloc'd). */
static inline char *dump_to_string(void) {
  int fd = memfd_create("dump", 0);
  CHECK(fd >= 0);
  CHECK(grt_dump(fd) == 0);
  off_t len = lseek(fd, 0, SEEK_END);
  CHECK(len > 0);
  char *buf = malloc((size_t)len + 1);
  CHECK(buf);
  CHECK(pread(fd, buf, (size_t)len, 0) == len);
  buf[len] = 0;
  close(fd);
  return buf;
}

/* The block of goroutine id in a dump (its header to the blank line),
 * malloc'd; NULL if none. */
static inline char *dump_block_of(const char *dump, uint64_t id) {
  char hdr[64];
  snprintf(hdr, sizeof hdr, "goroutine %llu [", (unsigned long long)id);
  const char *p = dump;
  while ((p = strstr(p, hdr)) && p != dump && p[-1] != '\n')
    p++;
  if (!p) return NULL;
  const char *end = strstr(p, "\n\n");
  return strndup(p, end ? (size_t)(end - p + 1) : strlen(p));
}

/* ---- capturing this process's stderr (misuse lines) ---- */

__attribute__((unused)) static char stderr_captured[4096];
__attribute__((unused)) static int stderr_saved_fd = -1, stderr_cap_fd = -1;

static inline void stderr_capture_begin(void) {
  fflush(stderr);
  stderr_cap_fd = memfd_create("stderr", 0);
  CHECK(stderr_cap_fd >= 0);
  stderr_saved_fd = dup(2);
  CHECK(stderr_saved_fd >= 0 && dup2(stderr_cap_fd, 2) == 2);
}

/* Returns how many lines were written since stderr_capture_begin; the
 * text is in stderr_captured, and is echoed on stdout for the log. */
static inline int stderr_capture_end(void) {
  fflush(stderr);
  CHECK(dup2(stderr_saved_fd, 2) == 2);
  close(stderr_saved_fd);
  ssize_t n = pread(stderr_cap_fd, stderr_captured, sizeof stderr_captured - 1, 0);
  CHECK(n >= 0);
  stderr_captured[n] = 0;
  close(stderr_cap_fd);
  int lines = 0;
  for (ssize_t i = 0; i < n; i++)
    lines += stderr_captured[i] == '\n';
  printf("  stderr: %s", n ? stderr_captured : "(nothing)\n");
  return lines;
}

/* Fails unless exactly one line naming call was written meanwhile. */
static inline void stderr_expect_one_line(const char *call) {
  int lines = stderr_capture_end();
  CHECK(lines == 1 && strstr(stderr_captured, call));
}

/* Runs stmt with stderr captured and checks its one line names call. */
#define ONE_LINE(call, stmt)                                                                       \
  do {                                                                                             \
    stderr_capture_begin();                                                                        \
    stmt;                                                                                          \
    stderr_expect_one_line(call);                                                                  \
  } while (0)

/* ---- re-running this program as a child ---- */

extern char **environ;

/* Does env entry e ("NAME=value") set the variable that change names
 * ("NAME=..." or just "NAME")? */
static inline int env_same_name(const char *e, const char *change) {
  size_t n = strcspn(change, "=");
  return strncmp(e, change, n) == 0 && e[n] == '=';
}

/* A copy of environ (to free; the strings are shared) with each entry of
 * changes (NULL-terminated; NULL for none) applied: "NAME=value" sets NAME,
 * replacing any existing value; a bare "NAME" unsets it. */
static inline char **env_with(const char *const changes[]) {
  size_t nenv = 0, nchanges = 0;
  while (environ[nenv])
    nenv++;
  while (changes && changes[nchanges])
    nchanges++;
  char **envp = calloc(nenv + nchanges + 1, sizeof *envp);
  CHECK(envp);
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++) {
    int replaced = 0;
    for (size_t j = 0; j < nchanges; j++)
      replaced |= env_same_name(environ[i], changes[j]);
    if (!replaced) envp[k++] = environ[i];
  }
  for (size_t j = 0; j < nchanges; j++)
    if (strchr(changes[j], '=')) envp[k++] = (char *)changes[j];
  return envp;
}

/* Reads once from fd, appending to buf (holding *len bytes; room for
 * cap - 1 and a NUL, which is always written).  Returns 0 when fd is done:
 * end of file, an error, or buf full. */
static inline int read_some(int fd, char *buf, size_t *len, size_t cap) {
  ssize_t r = read(fd, buf + *len, cap - 1 - *len);
  if (r > 0) *len += (size_t)r;
  buf[*len] = 0;
  return r > 0 || (r < 0 && errno == EINTR);
}

/*
 * The command that runs this program (/proc/self/exe) again with arguments
 * args (NULL-terminated; argv[0] is the program's path): calloc'd, for
 * execve.  Under an emulator (a cross build's tests run by qemu-user,
 * which cannot execve a foreign binary without binfmt_misc),
 * GRT_TEST_EMULATOR names the host program that runs it: the command is
 * that program with this one's path as its first argument.
 */
static inline char **self_command(const char *const args[]) {
  static char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(n > 0);
  self[n] = 0;
  size_t nargs = 0;
  while (args[nargs])
    nargs++;
  const char *emu = getenv("GRT_TEST_EMULATOR");
  size_t k = emu && *emu ? 1 : 0;
  char **argv = calloc(nargs + 2 + k, sizeof *argv);
  CHECK(argv);
  if (k) argv[0] = (char *)emu;
  argv[k] = self;
  for (size_t i = 0; i < nargs; i++)
    argv[k + i + 1] = (char *)args[i]; /* execve does not write them */
  return argv;
}

/*
 * Runs this program again (self_command) as a child with arguments args
 * and the environment changed by env_changes as env_with() describes.  The
 * child's stdout is captured into out and its stderr into err, each
 * NUL-terminated and cut at cap - 1 bytes; a NULL out or err leaves that
 * stream the parent's.  Returns the child's wait status.
 */
static inline int run_self(const char *const args[], const char *const env_changes[], char *out,
                           char *err, size_t cap) {
  char **argv = self_command(args);
  char **envp = env_with(env_changes);

  /* Stream i (0: stdout, 1: stderr) goes through pipes[i] into bufs[i]. */
  char *bufs[2] = {out, err};
  int pipes[2][2];
  for (int i = 0; i < 2; i++)
    if (bufs[i]) CHECK(pipe(pipes[i]) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (int i = 0; i < 2; i++) {
      if (!bufs[i]) continue;
      dup2(pipes[i][1], i + 1);
      close(pipes[i][0]);
      close(pipes[i][1]);
    }
    execve(argv[0], argv, envp);
    _exit(127);
  }

  struct pollfd pf[2] = {{.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
  size_t len[2] = {0, 0};
  int open_fds = 0;
  for (int i = 0; i < 2; i++) {
    if (!bufs[i]) continue;
    close(pipes[i][1]);
    pf[i].fd = pipes[i][0];
    bufs[i][0] = 0;
    open_fds++;
  }
  while (open_fds > 0) {
    if (poll(pf, 2, -1) < 0) {
      CHECK(errno == EINTR);
      continue;
    }
    for (int i = 0; i < 2; i++) {
      if (pf[i].fd < 0 || !pf[i].revents) continue;
      if (!read_some(pf[i].fd, bufs[i], &len[i], cap)) {
        close(pf[i].fd);
        pf[i].fd = -1;
        open_fds--;
      }
    }
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    CHECK(errno == EINTR);
  free(argv);
  free(envp);
  return status;
}

/* Joins a pthread from a goroutine.  pthread_join blocks the thread, so it
 * runs as external code (grt_extcall), letting the goroutine's P go to
 * other work meanwhile.  Returns pthread_join's result. */
static void *testutil_join_external(void *arg) {
  return (void *)(intptr_t)pthread_join(*(pthread_t *)arg, NULL);
}

static inline int join_thread(pthread_t t) {
  return (int)(intptr_t)grt_extcall(testutil_join_external, &t);
}

#endif /* GRT_TESTUTIL_H */
