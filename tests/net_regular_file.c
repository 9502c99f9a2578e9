/*
 * net_regular_file: grt_read, grt_write and grt_accept refuse an fd that
 * epoll cannot wait on (a regular file, a directory) with -EPERM and one
 * stderr line naming the call, and leave the fd as it was: O_NONBLOCK is
 * not set behind the caller's back (before the fix it was, and the fd
 * stayed non-blocking after the refusal), and the file still reads and
 * writes with read(2)/write(2).  Each refusal is repeated (the second call
 * must not find a half-registered fd).  A pipe, which epoll does handle,
 * still works through grt_read and grt_write.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"

enum { READ, WRITE, ACCEPT };
static const char *const names[] = {"grt_read", "grt_write", "grt_accept"};

/* Calls op on fd twice: -EPERM with one line each time, flags unchanged. */
static void check_refused(int fd, int op, const char *what) {
  int flags = fcntl(fd, F_GETFL);
  CHECK(flags >= 0 && !(flags & O_NONBLOCK));
  for (int round = 0; round < 2; round++) {
    char buf[16] = "hello";
    long r = 0;
    stderr_capture_begin();
    if (op == READ) r = grt_read(fd, buf, sizeof buf, 1000000000LL);
    if (op == WRITE) r = grt_write(fd, buf, 5, 1000000000LL);
    if (op == ACCEPT) r = grt_accept(fd);
    int after = fcntl(fd, F_GETFL);
    printf("%s on %s: %ld (%s); O_NONBLOCK %s\n", names[op], what, r,
           r < 0 ? strerror((int)-r) : "", after & O_NONBLOCK ? "SET" : "not set");
    stderr_expect_one_line(names[op]);
    CHECK(r == -EPERM);
    CHECK(after == flags);
  }
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char path[] = "/tmp/net_regular_file.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  CHECK(write(fd, "data", 4) == 4);
  check_refused(fd, READ, "a regular file");
  check_refused(fd, WRITE, "a regular file");
  check_refused(fd, ACCEPT, "a regular file");
  char buf[8] = {0};
  CHECK(pread(fd, buf, sizeof buf, 0) == 4 && memcmp(buf, "data", 4) == 0);
  close(fd);

  int dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
  CHECK(dfd >= 0);
  check_refused(dfd, READ, "a directory");
  close(dfd);

  /* A pipe is fine. */
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(grt_write(p[1], "xy", 2, 1000000000LL) == 2);
  CHECK(grt_read(p[0], buf, sizeof buf, 1000000000LL) == 2 && memcmp(buf, "xy", 2) == 0);
  CHECK(grt_read(p[0], buf, sizeof buf, 0) == -ETIMEDOUT);
  grt_close(p[0]);
  grt_close(p[1]);
  printf("net_regular_file: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
