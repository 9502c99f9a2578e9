/*
 * elf_fns.h - where functions start in a file without symbols, for
 * grt-pprof's top table (tools/grt-pprof/elf_fns.c): a stripped library has
 * no names for its static functions, but its .eh_frame_hdr lists where
 * every function with unwind information starts (and its FDE, how long it
 * is).  Part of the static library grt_pprof_reader; libc only.
 */
#ifndef GRT_ELF_FNS_H
#define GRT_ELF_FNS_H

#include <stddef.h>
#include <stdint.h>

struct elf_fns;

/*
 * Opens the ELF64 file at path (of this machine's byte order) and reads its
 * program headers and the FDE table of its .eh_frame_hdr.  NULL if path is
 * not a regular file that can be read, is not such a file, has no
 * .eh_frame_hdr with a table, or is malformed.  The file is untrusted:
 * every read is bounds-checked, nothing is mapped, and the table is capped.
 */
struct elf_fns *elf_fns_open(const char *path);

/*
 * The function that contains the byte at file offset off (as a profile's
 * mapping gives it: address - start + offset): 1 and *start, its first
 * byte as a virtual address of the file (the address space of nm, objdump
 * and addr2line -e), if an FDE covers it; 0 if none does or the file does
 * not say.
 */
int elf_fns_find(struct elf_fns *e, uint64_t off, uint64_t *start);

/* The file's GNU build ID (NT_GNU_BUILD_ID), *len bytes; NULL if none. */
const uint8_t *elf_fns_build_id(const struct elf_fns *e, size_t *len);

void elf_fns_close(struct elf_fns *e);

#endif
