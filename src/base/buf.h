/*
 * buf.h - growable arrays, a growable string with printf, and writing a
 * whole buffer to an fd (buf.c).  Normal code only: these allocate.
 */
#ifndef GRT_BASE_BUF_H
#define GRT_BASE_BUF_H

#include <stddef.h>

/* Ensures the array *p (holding *cap elements of size elem) has room for
 * need elements, doubling.  0, or -ENOMEM (then *p and *cap are as they
 * were). */
int buf_grow(void *p, size_t *cap, size_t need, size_t elem);

/* Writes all n bytes, retrying on EINTR and short writes.  0 or -errno
 * (-EIO when write returns 0). */
int buf_write_all(int fd, const void *p, size_t n);

/* A string built by buf_printf.  err is sticky: after the first failure
 * (-ENOMEM) further calls do nothing, so callers check once at the end. */
struct buf_str {
  char *p;
  size_t len, cap;
  int err;
};

void buf_printf(struct buf_str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
