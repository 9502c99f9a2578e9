/*
 * forkutil.h - for the fork tests (fork_*.c): wait for a child from a
 * goroutine with a deadline, and collect what it wrote to a pipe.
 * Include after testutil.h.
 */
#ifndef GRT_FORKUTIL_H
#define GRT_FORKUTIL_H

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* Waits for pid (polling, so the caller's P runs others meanwhile) and
 * returns its wait status.  A child still running after timeout_s seconds
 * hangs: it is killed and the test fails. */
static inline int wait_child(pid_t pid, int timeout_s, const char *what) {
  int64_t end = grt_nanotime() + (int64_t)timeout_s * 1000000000;
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    CHECK(r == 0 || errno == EINTR);
    if (grt_nanotime() > end) {
      fprintf(stderr, "FAIL: %s: child %d still running after %d s (it hangs); killed\n", what,
              (int)pid, timeout_s);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      exit(1);
    }
    grt_sleep(1000000);
  }
}

/* Reads fd to its end into buf (cap bytes with the NUL) and closes it. */
static inline void read_all(int fd, char *buf, size_t cap) {
  size_t len = 0;
  while (read_some(fd, buf, &len, cap))
    ;
  close(fd);
}

/* How many times needle occurs in s. */
static inline int count_of(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

#define FORK_LINE "does not survive fork() without exec"

#endif
