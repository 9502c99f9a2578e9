/*
 * misuse_chan_cap: grt_chan_make rejects a buffer that cannot exist.
 * cap = SIZE_MAX (any element size, 0 included: grt_chan_cap could only
 * report it as -1, which is what it did before the fix), cap * elem_size
 * past 2^48 bytes (Go's limit: beyond any address space), and a product
 * that wraps size_t: each gives NULL with errno EINVAL and one stderr line
 * naming grt_chan_make.  The largest capacities that are allowed still
 * work: LONG_MAX elements of size 0 (no buffer), reported exactly by
 * grt_chan_cap, and usable.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"

static char captured[4096];

/* grt_chan_make(elem, cap) must fail with EINVAL and one line. */
static void check_rejected(size_t elem, size_t cap) {
  fflush(stderr);
  int fd = memfd_create("stderr", 0), saved = dup(2);
  CHECK(fd >= 0 && saved >= 0 && dup2(fd, 2) == 2);
  errno = 0;
  grt_chan *c = grt_chan_make(elem, cap);
  int err = errno;
  fflush(stderr);
  CHECK(dup2(saved, 2) == 2);
  close(saved);
  ssize_t n = pread(fd, captured, sizeof captured - 1, 0);
  CHECK(n >= 0);
  captured[n] = 0;
  close(fd);
  int lines = 0;
  for (ssize_t i = 0; i < n; i++)
    lines += captured[i] == '\n';
  printf("grt_chan_make(%zu, %zu): %s, errno %s; stderr: %s", elem, cap, c ? "a channel" : "NULL",
         strerror(err), n ? captured : "(nothing)\n");
  if (c) printf("  (and grt_chan_cap says %ld)\n", grt_chan_cap(c));
  CHECK(c == NULL && err == EINVAL);
  CHECK(lines == 1 && strstr(captured, "grt_chan_make"));
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  check_rejected(0, SIZE_MAX);
  check_rejected(1, SIZE_MAX);
  check_rejected(8, SIZE_MAX);
  check_rejected(0, (size_t)LONG_MAX + 1);
  check_rejected(1, ((size_t)1 << 48) + 1);
  check_rejected(8, ((size_t)1 << 45) + 1);
  check_rejected(65536, ((size_t)1 << 32) + 1);
  check_rejected(16, SIZE_MAX / 8); /* wraps size_t */
  check_rejected(65537, 1);

  /* The largest that can exist. */
  grt_chan *c = grt_chan_make(0, LONG_MAX);
  CHECK(c);
  CHECK(grt_chan_cap(c) == LONG_MAX);
  CHECK(grt_chan_send(c, NULL) == 0 && grt_chan_len(c) == 1);
  CHECK(grt_chan_recv(c, NULL) == 1 && grt_chan_len(c) == 0);
  grt_chan_free(c);
  c = grt_chan_make(8, 1024);
  CHECK(c && grt_chan_cap(c) == 1024);
  grt_chan_free(c);
  printf("misuse_chan_cap: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("1", run, argc, argv);
}
