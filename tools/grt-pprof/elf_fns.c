/*
 * elf_fns.c - where functions start in an ELF file without symbols
 * (elf_fns.h), from its .eh_frame_hdr: grt-pprof names code that a profile
 * left as a bare address by the function that contains it.
 *
 * Every function the compiler emits has an FDE in .eh_frame (its unwind
 * information), and the linker indexes them in .eh_frame_hdr (found by the
 * PT_GNU_EH_FRAME program header): version 1, then the encoded pointer to
 * .eh_frame, the FDE count, and a table sorted by initial location of
 * (initial location, FDE address) pairs, each encoded datarel|sdata4
 * (relative to the start of .eh_frame_hdr).  The function containing an
 * address starts at the last initial location at or below it, provided
 * that FDE's pc range reaches the address; the range is read from the FDE,
 * whose pointer encoding its CIE gives (augmentation 'R').
 *
 * The file is untrusted input.  Invariants:
 *  - Only regular files are opened (no FIFO or device can block or be
 *    disturbed), and nothing is mapped: every byte is read with pread,
 *    by read_at, which refuses a range past the file's size.
 *  - Parsing goes through struct cur, which never reads past its buffer.
 *  - Program headers, the table (MAX_FDES) and the note segments read for
 *    the build ID (MAX_NOTES) are capped; offsets and sizes are checked
 *    for overflow before they are added.
 *  - A table that is not sorted gives wrong answers, never a crash; every
 *    answer is checked against its FDE's pc_begin and pc_range.
 */
#define _GNU_SOURCE
#include "elf_fns.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PHDRS 1024        /* program headers read */
#define MAX_FDES (1u << 22)   /* table entries: 32 MiB */
#define MAX_NOTES (64u << 10) /* bytes of PT_NOTE segments read */
#define MAX_BUILD_ID 64       /* bytes of a build ID (GNU's are 20) */
#define FDE_READ 64           /* bytes read of an FDE: its fields come first */
#define CIE_READ 512          /* bytes read of a CIE: up to its 'R' */

/* DWARF pointer encodings (DW_EH_PE_*) */
enum {
  PE_ABSPTR = 0x00,
  PE_ULEB128 = 0x01,
  PE_UDATA2 = 0x02,
  PE_UDATA4 = 0x03,
  PE_UDATA8 = 0x04,
  PE_SLEB128 = 0x09,
  PE_SDATA2 = 0x0a,
  PE_SDATA4 = 0x0b,
  PE_SDATA8 = 0x0c,
  PE_PCREL = 0x10,
  PE_DATAREL = 0x30,
  PE_INDIRECT = 0x80,
  PE_OMIT = 0xff,
};

struct seg {
  uint64_t off, filesz, vaddr;
};

struct elf_fns {
  int fd;
  uint64_t size;     /* of the file */
  struct seg *loads; /* PT_LOAD segments with file contents */
  uint32_t nloads;
  uint64_t hdr_vaddr; /* .eh_frame_hdr */
  uint8_t *table;     /* nfdes (initial location, FDE) pairs, sdata4 each */
  uint32_t nfdes;
  uint8_t build_id[MAX_BUILD_ID];
  size_t build_id_len;
};

/* ---- reading, bounds-checked ---- */

/* Reads len bytes at file offset off: 0, or -1 if they are not all in the
 * file. */
static int read_at(const struct elf_fns *e, uint64_t off, void *buf, size_t len) {
  if (off > e->size || len > e->size - off) return -1;
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = pread(e->fd, p, len, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1; /* an error, or the file shrank */
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

/* The file offset of virtual address v, and how many bytes of file
 * contents follow it in its segment; -1 if no PT_LOAD has it in the file. */
static int vaddr_to_off(const struct elf_fns *e, uint64_t v, uint64_t *off, uint64_t *avail) {
  for (uint32_t i = 0; i < e->nloads; i++) {
    const struct seg *s = &e->loads[i];
    if (v >= s->vaddr && v - s->vaddr < s->filesz) {
      *off = s->off + (v - s->vaddr);
      *avail = s->filesz - (v - s->vaddr);
      return 0;
    }
  }
  return -1;
}

/* Reads up to max bytes at virtual address v, at least min, into a
 * buffer of exactly *n bytes (malloc'd: under ASan, a parser reading past
 * them is caught); NULL if not even min are there. */
static uint8_t *read_vaddr(const struct elf_fns *e, uint64_t v, size_t min, size_t max, size_t *n) {
  uint64_t off, avail;
  if (vaddr_to_off(e, v, &off, &avail)) return NULL;
  *n = avail < max ? (size_t)avail : max;
  uint8_t *buf = *n >= min ? malloc(*n) : NULL;
  if (buf && read_at(e, off, buf, *n)) {
    free(buf);
    buf = NULL;
  }
  return buf;
}

/* A cursor over bytes read from the file; vaddr is the virtual address of
 * p (for pc-relative pointers).  Reads past the end fail (and stay failed). */
struct cur {
  const uint8_t *p, *end;
  uint64_t vaddr;
  int bad;
};

static int cur_bytes(struct cur *c, void *out, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = 1;
    return -1;
  }
  memcpy(out, c->p, n);
  c->p += n;
  c->vaddr += n;
  return 0;
}

static uint8_t cur_u8(struct cur *c) {
  uint8_t v = 0;
  cur_bytes(c, &v, 1);
  return v;
}

static uint64_t cur_uleb(struct cur *c) {
  uint64_t v = 0;
  for (int shift = 0; !c->bad; shift += 7) {
    uint8_t b = cur_u8(c);
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
    if (shift > 70) c->bad = 1; /* 11 bytes: not a real one */
  }
  return 0;
}

static int64_t cur_sleb(struct cur *c) {
  uint64_t v = 0;
  int shift = 0;
  for (; !c->bad; shift += 7) {
    uint8_t b = cur_u8(c);
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (shift + 7 < 64 && (b & 0x40)) v |= ~(uint64_t)0 << (shift + 7);
      return (int64_t)v;
    }
    if (shift > 70) c->bad = 1;
  }
  return 0;
}

/* A pointer in encoding enc.  *ok = 0 if its value cannot be computed
 * here (an application other than absolute or pc-relative, or an indirect
 * one) though its bytes were skipped; the cursor fails for an unknown
 * format. */
static uint64_t cur_ptr(struct cur *c, uint8_t enc, int *ok) {
  uint64_t at = c->vaddr, v = 0;
  *ok = 1;
  switch (enc & 0x0f) {
  case PE_ABSPTR:
  case PE_UDATA8:
  case PE_SDATA8:
    cur_bytes(c, &v, 8);
    break;
  case PE_UDATA4: {
    uint32_t x = 0;
    cur_bytes(c, &x, 4);
    v = x;
    break;
  }
  case PE_SDATA4: {
    int32_t x = 0;
    cur_bytes(c, &x, 4);
    v = (uint64_t)(int64_t)x;
    break;
  }
  case PE_UDATA2: {
    uint16_t x = 0;
    cur_bytes(c, &x, 2);
    v = x;
    break;
  }
  case PE_SDATA2: {
    int16_t x = 0;
    cur_bytes(c, &x, 2);
    v = (uint64_t)(int64_t)x;
    break;
  }
  case PE_ULEB128:
    v = cur_uleb(c);
    break;
  case PE_SLEB128:
    v = (uint64_t)cur_sleb(c);
    break;
  default:
    c->bad = 1;
    return 0;
  }
  if (enc & PE_INDIRECT) *ok = 0;
  switch (enc & 0x70) {
  case PE_ABSPTR:
    break;
  case PE_PCREL:
    v += at;
    break;
  default:
    *ok = 0;
  }
  return v;
}

/* ---- opening ---- */

/* The GNU build ID from the PT_NOTE segment at [off, off + size). */
static void read_build_id(struct elf_fns *e, uint64_t off, uint64_t size, uint64_t align,
                          uint32_t *budget) {
  if (size > *budget || size < 12) return;
  *budget -= (uint32_t)size;
  uint8_t *buf = malloc(size);
  if (!buf) return;
  if (read_at(e, off, buf, size) == 0) {
    uint64_t a = align == 8 ? 8 : 4;
    uint64_t pos = 0;
    while (size - pos >= 12) {
      uint32_t hdr[3]; /* namesz, descsz, type */
      memcpy(hdr, buf + pos, sizeof hdr);
      pos += 12;
      uint64_t name_end = pos + ((hdr[0] + a - 1) & ~(a - 1));
      if (name_end > size) break;
      uint64_t desc_end = name_end + ((hdr[1] + a - 1) & ~(a - 1));
      if (desc_end > size && name_end + hdr[1] <= size) desc_end = size; /* last, unpadded */
      if (desc_end > size) break;
      if (hdr[2] == NT_GNU_BUILD_ID && hdr[0] == 4 && memcmp(buf + pos, "GNU", 4) == 0 &&
          hdr[1] > 0 && hdr[1] <= MAX_BUILD_ID) {
        memcpy(e->build_id, buf + name_end, hdr[1]);
        e->build_id_len = hdr[1];
        break;
      }
      pos = desc_end;
    }
  }
  free(buf);
}

/* Reads .eh_frame_hdr at [off, off + size) (virtual address vaddr): its
 * table into e.  0, or -1 if there is no usable table. */
static int read_table(struct elf_fns *e, uint64_t off, uint64_t size, uint64_t vaddr) {
  uint8_t hdr[32];
  size_t n = size < sizeof hdr ? (size_t)size : sizeof hdr;
  if (n < 4 || read_at(e, off, hdr, n)) return -1;
  struct cur c = {hdr, hdr + n, vaddr, 0};
  uint8_t version = cur_u8(&c), ptr_enc = cur_u8(&c), count_enc = cur_u8(&c);
  uint8_t table_enc = cur_u8(&c);
  if (version != 1 || count_enc == PE_OMIT || table_enc != (PE_DATAREL | PE_SDATA4)) return -1;
  int ok;
  if (ptr_enc != PE_OMIT) cur_ptr(&c, ptr_enc, &ok);
  uint64_t count = cur_ptr(&c, count_enc, &ok);
  if (c.bad || !ok || count == 0 || count > MAX_FDES) return -1;
  uint64_t table_pos = (uint64_t)(c.p - hdr);
  if (count * 8 > size - table_pos) return -1; /* table_pos <= n <= size */
  e->table = malloc(count * 8);
  if (!e->table || read_at(e, off + table_pos, e->table, count * 8)) return -1;
  e->nfdes = (uint32_t)count;
  e->hdr_vaddr = vaddr;
  return 0;
}

struct elf_fns *elf_fns_open(const char *path) {
  struct stat st;
  /* stat first: opening a FIFO or a device could block or disturb it. */
  if (!path || stat(path, &st) || !S_ISREG(st.st_mode)) return NULL;
  struct elf_fns *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (e->fd < 0 || fstat(e->fd, &st) || !S_ISREG(st.st_mode)) goto fail;
  e->size = (uint64_t)st.st_size;

  Elf64_Ehdr eh;
  if (read_at(e, 0, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_VERSION] != EV_CURRENT)
    goto fail;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) goto fail;
#else
  if (eh.e_ident[EI_DATA] != ELFDATA2MSB) goto fail;
#endif
  if (eh.e_phentsize < sizeof(Elf64_Phdr) || eh.e_phentsize > 1024 || eh.e_phnum == 0 ||
      eh.e_phnum > MAX_PHDRS || eh.e_phnum == PN_XNUM)
    goto fail;
  size_t phsize = (size_t)eh.e_phnum * eh.e_phentsize; /* at most 1 MiB */
  uint8_t *ph = malloc(phsize);
  if (!ph) goto fail;
  if (read_at(e, eh.e_phoff, ph, phsize)) {
    free(ph);
    goto fail;
  }
  e->loads = calloc(eh.e_phnum, sizeof *e->loads);
  if (!e->loads) {
    free(ph);
    goto fail;
  }
  Elf64_Phdr ehf = {.p_type = PT_NULL};
  uint32_t note_budget = MAX_NOTES;
  for (uint32_t i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr p;
    memcpy(&p, ph + (size_t)i * eh.e_phentsize, sizeof p);
    /* Contents must be in the file, without overflow. */
    if (p.p_offset > e->size || p.p_filesz > e->size - p.p_offset) continue;
    if (p.p_type == PT_LOAD && p.p_filesz > 0 && p.p_vaddr + p.p_filesz >= p.p_vaddr)
      e->loads[e->nloads++] = (struct seg){p.p_offset, p.p_filesz, p.p_vaddr};
    if (p.p_type == PT_GNU_EH_FRAME && ehf.p_type == PT_NULL) ehf = p;
    if (p.p_type == PT_NOTE && e->build_id_len == 0)
      read_build_id(e, p.p_offset, p.p_filesz, p.p_align, &note_budget);
  }
  free(ph);
  if (ehf.p_type == PT_NULL || read_table(e, ehf.p_offset, ehf.p_filesz, ehf.p_vaddr)) goto fail;
  return e;
fail:
  elf_fns_close(e);
  return NULL;
}

void elf_fns_close(struct elf_fns *e) {
  if (!e) return;
  if (e->fd >= 0) close(e->fd);
  free(e->loads);
  free(e->table);
  free(e);
}

const uint8_t *elf_fns_build_id(const struct elf_fns *e, size_t *len) {
  *len = e->build_id_len;
  return e->build_id_len ? e->build_id : NULL;
}

/* ---- finding ---- */

/* Entry i of the table: its initial location and FDE address. */
static void table_entry(const struct elf_fns *e, uint32_t i, uint64_t *loc, uint64_t *fde) {
  int32_t v[2];
  memcpy(v, e->table + (size_t)i * 8, sizeof v);
  *loc = e->hdr_vaddr + (uint64_t)(int64_t)v[0];
  *fde = e->hdr_vaddr + (uint64_t)(int64_t)v[1];
}

/* The pointer encoding of FDEs under the CIE that c reads, or -1. */
static int cie_parse(struct cur c) {
  uint32_t len = 0, id = 1;
  cur_bytes(&c, &len, 4);
  cur_bytes(&c, &id, 4);
  /* 0: the terminator; 0xffffffff: 64-bit DWARF, which .eh_frame has not */
  if (len < 4 || len == 0xffffffff || id != 0) return -1;
  if (len - 4 < (size_t)(c.end - c.p)) c.end = c.p + (len - 4); /* the CIE's own bytes */
  uint8_t version = cur_u8(&c);
  if (version != 1 && version != 3 && version != 4) return -1;
  const uint8_t *aug = c.p;
  const uint8_t *nul = memchr(c.p, 0, (size_t)(c.end - c.p));
  if (!nul) return -1;
  c.vaddr += (uint64_t)(nul + 1 - c.p);
  c.p = nul + 1;
  if (version == 4) {
    cur_u8(&c); /* address_size */
    cur_u8(&c); /* segment_selector_size */
  }
  cur_uleb(&c); /* code alignment */
  cur_sleb(&c); /* data alignment */
  if (version == 1)
    cur_u8(&c);
  else
    cur_uleb(&c); /* return address register */
  if (c.bad) return -1;
  if (aug[0] != 'z') return aug[0] == 0 ? PE_ABSPTR : -1; /* "eh" and such: not handled */
  cur_uleb(&c);                                           /* augmentation data length */
  for (const uint8_t *a = aug + 1; *a && !c.bad; a++) {
    int ok;
    switch (*a) {
    case 'R': {
      uint8_t enc = cur_u8(&c);
      return c.bad || (enc & 0x70) == 0x50 ? -1 : enc; /* aligned: not handled */
    }
    case 'P':
      cur_ptr(&c, cur_u8(&c), &ok);
      break;
    case 'L':
      cur_u8(&c);
      break;
    case 'S': /* a signal frame */
    case 'B': /* aarch64: BTI */
    case 'G': /* aarch64: MTE-tagged frames */
      break;
    default:
      return -1; /* its data may come before an 'R' */
    }
  }
  return c.bad ? -1 : PE_ABSPTR;
}

/* The same for the CIE at virtual address v. */
static int cie_fde_encoding(const struct elf_fns *e, uint64_t v) {
  size_t n;
  uint8_t *buf = read_vaddr(e, v, 8, CIE_READ, &n);
  if (!buf) return -1;
  int enc = cie_parse((struct cur){buf, buf + n, v, 0});
  free(buf);
  return enc;
}

/* The pc range of the FDE that c reads, whose function the table says
 * starts at start: 0 and *range, or -1. */
static int fde_parse(const struct elf_fns *e, struct cur c, uint64_t start, uint64_t *range) {
  uint32_t len = 0, cie = 0;
  cur_bytes(&c, &len, 4);
  uint64_t cie_field = c.vaddr;
  cur_bytes(&c, &cie, 4);
  if (len < 4 || len == 0xffffffff || cie == 0) return -1; /* a CIE, not an FDE */
  if (len - 4 < (size_t)(c.end - c.p)) c.end = c.p + (len - 4);
  int enc = cie_fde_encoding(e, cie_field - cie);
  if (enc < 0 || enc == PE_OMIT) return -1;
  int ok;
  uint64_t begin = cur_ptr(&c, (uint8_t)enc, &ok);
  if (ok && begin != start) return -1; /* the table and the FDE disagree */
  *range = cur_ptr(&c, (uint8_t)(enc & 0x0f), &ok);
  return c.bad ? -1 : 0;
}

/* The same for the FDE at virtual address v. */
static int fde_range(const struct elf_fns *e, uint64_t v, uint64_t start, uint64_t *range) {
  size_t n;
  uint8_t *buf = read_vaddr(e, v, 8, FDE_READ, &n);
  if (!buf) return -1;
  int rc = fde_parse(e, (struct cur){buf, buf + n, v, 0}, start, range);
  free(buf);
  return rc;
}

int elf_fns_find(struct elf_fns *e, uint64_t off, uint64_t *start) {
  if (!e) return 0;
  /* The file offset as a virtual address, through its PT_LOAD. */
  uint64_t v = 0;
  uint32_t i;
  for (i = 0; i < e->nloads; i++) {
    const struct seg *s = &e->loads[i];
    if (off >= s->off && off - s->off < s->filesz) {
      v = s->vaddr + (off - s->off);
      break;
    }
  }
  if (i == e->nloads) return 0;
  /* The last entry whose initial location is at or below v. */
  uint32_t lo = 0, hi = e->nfdes;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    uint64_t loc, fde;
    table_entry(e, mid, &loc, &fde);
    if (loc <= v)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  uint64_t loc, fde, range;
  table_entry(e, lo - 1, &loc, &fde);
  if (fde_range(e, fde, loc, &range) || v - loc >= range) return 0;
  *start = loc;
  return 1;
}
