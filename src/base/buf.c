/*
 * buf.c - growable arrays and strings, and whole writes (see buf.h).
 */
#include "base/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int buf_grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) return -ENOMEM;
    ncap *= 2;
  }
  if (ncap > SIZE_MAX / elem) return -ENOMEM;
  void *n = realloc(*(void **)p, ncap * elem);
  if (!n) return -ENOMEM;
  *(void **)p = n;
  *cap = ncap;
  return 0;
}

int buf_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (w == 0) return -EIO;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

void buf_printf(struct buf_str *b, const char *fmt, ...) {
  if (b->err) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->err = -EINVAL;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    if (buf_grow(&b->p, &b->cap, b->len + (size_t)n + 1, 1)) {
      b->err = -ENOMEM;
      return;
    }
  }
}
