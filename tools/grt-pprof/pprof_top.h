/*
 * pprof_top.h - the reader of grt-pprof (tools/grt-pprof/pprof_top.c),
 * built as the static library grt_pprof_reader for the tool and its unit
 * test (tests/unit_pprof_top.c).  It needs libc and zlib, not libgrt.
 */
#ifndef GRT_PPROF_TOP_H
#define GRT_PPROF_TOP_H

/*
 * Prints the n functions with the most CPU in the pprof CPU profile at path
 * (gzipped or plain profile.proto, as grt_prof_stop writes it) to out_fd,
 * like `go tool pprof -top`: flat, flat%, sum%, cum, cum% and the function
 * name, one per line, after a header with the total.  Code without a
 * function is named by the function containing it in its mapping's file
 * ("libz.so.1.2.13+0x57e0", see pprof_top.c), else "[libz.so.1.2.13]" or
 * its address.  Returns 0; -errno if
 * path cannot be read or out_fd written; -EINVAL if it is not a CPU
 * profile in pprof's format (or for a NULL path, n < 1, out_fd < 0);
 * -EFBIG beyond the reader's caps.  On failure it prints one line on
 * stderr, "grt-pprof: <path>: <why>", and nothing on out_fd (unless the
 * write itself failed part way).
 */
int pprof_top(const char *path, int n, int out_fd);

#endif
