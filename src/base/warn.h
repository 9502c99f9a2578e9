/*
 * warn.h - one line on stderr (warn_line), and the fatal path (warn_fatal).
 *
 * warn_line formats into a stack buffer and issues one write(2), so lines
 * from different threads never interleave mid-line.  It allocates nothing
 * but is not async-signal-safe (vsnprintf).
 */
#ifndef GRT_BASE_WARN_H
#define GRT_BASE_WARN_H

/* Writes the formatted text and a newline to stderr in one write. */
void warn_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "grt: fatal error: msg", then the traceback the runtime registered
 * (the current goroutine and its frames), then aborts. */
void warn_fatal(const char *msg) __attribute__((noreturn));

/* The runtime registers its traceback printer here (a lower layer cannot
 * name the runtime's goroutines itself). */
void warn_set_traceback(void (*print)(void));

#endif
