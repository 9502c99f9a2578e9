/*
 * elfnote.h - which loaded ELF module a code address lies in, and the
 * module's GNU build ID, read from what the dynamic loader has already
 * mapped (dl_iterate_phdr's program headers and the PT_NOTE segments they
 * point at): no file I/O and no malloc, so the fatal and stack-overflow
 * reports can name "module+offset" and the build ID from a SIGSEGV handler.
 * (dl_iterate_phdr takes the loader's lock: not strictly async-signal-safe,
 * as dladdr is not.)  The pprof layer's symbolizer reads build IDs through
 * libdw instead; this is for the reports that must not allocate.
 */
#ifndef GRT_BASE_ELFNOTE_H
#define GRT_BASE_ELFNOTE_H

#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELFNOTE_BUILD_ID_MAX 32 /* bytes kept: SHA-1 (20, GNU ld) to SHA-256 (32) */

struct elfnote_module {
  const char *path; /* as the loader named it; "" for the main program */
  uintptr_t bias;   /* load bias: pc - bias is the address in the file, as
                       `addr2line -e path` takes it */
  const void *id;   /* identifies the module while it stays loaded */
  uint8_t build_id[ELFNOTE_BUILD_ID_MAX];
  size_t build_id_len; /* 0: the module has no NT_GNU_BUILD_ID note */
};

/* The loaded module with a PT_LOAD segment holding pc: true and *m filled,
 * or false (pc in no module: JIT code, a stack, garbage). */
bool elfnote_module_of(uintptr_t pc, struct elfnote_module *m);

/* The GNU build ID of the module with these program headers, loaded with
 * this bias: copies up to max bytes to out and returns the ID's length
 * (0 if none).  Reads only PT_NOTE segments that lie inside a readable
 * PT_LOAD segment, so only mapped memory. */
size_t elfnote_build_id(const ElfW(Phdr) * phdr, size_t phnum, uintptr_t bias, uint8_t *out,
                        size_t max);

#endif
