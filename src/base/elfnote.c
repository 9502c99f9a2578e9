/*
 * elfnote.c - the module holding an address, and its GNU build ID, from the
 * loader's program headers (see elfnote.h).
 */
#define _GNU_SOURCE
#include "base/elfnote.h"

#include <elf.h>
#include <string.h>

/* Is [addr, addr + len) inside a readable PT_LOAD segment's file image? */
static bool in_loaded(const ElfW(Phdr) * phdr, size_t phnum, ElfW(Addr) addr, size_t len) {
  for (size_t i = 0; i < phnum; i++) {
    const ElfW(Phdr) *p = &phdr[i];
    if (p->p_type == PT_LOAD && (p->p_flags & PF_R) && addr >= p->p_vaddr && len <= p->p_filesz &&
        addr - p->p_vaddr <= p->p_filesz - len)
      return true;
  }
  return false;
}

size_t elfnote_build_id(const ElfW(Phdr) * phdr, size_t phnum, uintptr_t bias, uint8_t *out,
                        size_t max) {
  for (size_t i = 0; i < phnum; i++) {
    const ElfW(Phdr) *p = &phdr[i];
    if (p->p_type != PT_NOTE || !in_loaded(phdr, phnum, p->p_vaddr, p->p_filesz)) continue;
    size_t align = p->p_align == 8 ? 8 : 4; /* notes are 4-aligned, or 8 in an 8-aligned segment */
    const uint8_t *n = (const uint8_t *)(bias + p->p_vaddr), *end = n + p->p_filesz;
    while ((size_t)(end - n) >= sizeof(ElfW(Nhdr))) {
      ElfW(Nhdr) h;
      memcpy(&h, n, sizeof h);
      size_t name_off = sizeof h;
      size_t desc_off = name_off + ((h.n_namesz + align - 1) & ~(align - 1));
      size_t next = desc_off + ((h.n_descsz + align - 1) & ~(align - 1));
      if (h.n_namesz > (size_t)(end - n) || h.n_descsz > (size_t)(end - n) ||
          desc_off + h.n_descsz > (size_t)(end - n))
        break; /* malformed: stop reading this segment */
      if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(n + name_off, "GNU", 4) == 0) {
        size_t len = h.n_descsz < max ? h.n_descsz : max;
        memcpy(out, n + desc_off, len);
        return len;
      }
      if (next >= (size_t)(end - n)) break;
      n += next;
    }
  }
  return 0;
}

struct lookup {
  uintptr_t pc;
  struct elfnote_module *m;
  bool found;
};

static int match(struct dl_phdr_info *info, size_t size, void *arg) {
  struct lookup *l = arg;
  (void)size;
  for (size_t i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *p = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + p->p_vaddr;
    if (p->p_type != PT_LOAD || l->pc < lo || l->pc - lo >= p->p_memsz) continue;
    struct elfnote_module *m = l->m;
    m->path = info->dlpi_name ? info->dlpi_name : "";
    m->bias = info->dlpi_addr;
    m->id = info->dlpi_phdr;
    m->build_id_len = elfnote_build_id(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr,
                                       m->build_id, sizeof m->build_id);
    l->found = true;
    return 1; /* stop */
  }
  return 0;
}

bool elfnote_module_of(uintptr_t pc, struct elfnote_module *m) {
  struct lookup l = {pc, m, false};
  dl_iterate_phdr(match, &l);
  return l.found;
}
