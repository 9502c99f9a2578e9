/*
 * goroutines.h - goroutine dumps for the /debug/pprof server (top/http.c).
 * grt_dump (grt.h) is the other entry point of goroutines.c.
 *
 * Safe to call from a goroutine (the work runs through grt_extcall, so the
 * P keeps running other goroutines) or from any other thread.  No lock is
 * held while writing to fd.
 */
#ifndef GRT_PPROF_GOROUTINES_H
#define GRT_PPROF_GOROUTINES_H

/*
 * Writes Go's /debug/pprof/goroutine?debug=N to fd:
 *   debug 0: a gzipped pprof profile, sample and period type goroutine/count,
 *            one sample per distinct stack (call-site addresses, leaf first).
 *            A goroutine whose stack cannot be read (running on another
 *            thread, or it kept moving) counts under the pseudo-frame
 *            grt._System, so the total is every live goroutine.
 *   debug 1: "goroutine profile: total N", then "COUNT @ 0xpc ..." per stack
 *            with "#\t0xpc\tfunc+0xoff\tfile:line" lines, most common first.
 *   debug 2 (and above): the same text as grt_dump.
 * 0, or -errno (-EBADF for a bad fd, -EINVAL for a negative debug).
 */
int goroutines_write(int fd, int debug);

#endif
