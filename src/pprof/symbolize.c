/*
 * symbolize.c - code addresses of this process to function/file/line chains
 * (elfutils libdwfl + libdw), and the process's executable mappings with
 * their GNU build IDs, for the pprof writer.
 *
 * Invariants:
 *  - The Dwfl session is a snapshot of the modules (taken in
 *    symbolize_open), valid while the dynamic loader's unload counter
 *    (dl_iterate_phdr's dlpi_subs) has not moved: after loads only, each
 *    of its objects is still there, at the same place.  libdw reads a
 *    module's file only for an address inside an executable segment of an
 *    object loaded now, whose segment the module covers, through a
 *    snapshot taken since the last unload (taken again when needed, at
 *    most every REFRESH_NS; meanwhile such an address gets no answer, and
 *    none is cached).  So the collector never reads the file of a library
 *    that was unloaded, whatever its file became and whatever code now
 *    runs at its old address.
 *  - A file can still change under a loaded module (truncated on disk
 *    while mapped), and libdw reads it through a mapping: every call that
 *    may read a module's file runs under a SIGBUS guard (guarded()).  A
 *    fault abandons the Dwfl (libdw's state may be half updated; it is
 *    leaked, never touched again), marks the module's range as bad (no
 *    answer there from then on), prints one line per process, and the
 *    address counts as unknown.
 *  - Every string handed out (function, file, mapping path) is a copy
 *    interned in s->strs: equal strings are the same pointer, and all stay
 *    valid until symbolize_close, whatever libdw does with its own.
 *  - Each pc is resolved once; its whole inline chain (innermost first) is
 *    kept in s->lines and later calls copy it out of the cache.
 *  - Debug files are looked for on this machine only (by build ID under
 *    /usr/lib/debug/.build-id, then by .gnu_debuglink), never through
 *    debuginfod, unless symbolize_set_debuginfod(true) (GRT_DEBUGINFOD=1).
 *
 * Not async-signal-safe and not thread-safe: one instance per thread.
 */
#define _GNU_SOURCE
#include "pprof/symbolize.h"

#include "arch.h"
#include "base/buf.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/warn.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <libelf.h>
#include <zlib.h>

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Deepest inline chain kept per pc; deeper nesting is cut at the outer end
 * (beyond any real program's inlining depth). */
#define MAX_CHAIN 64

/* A stale snapshot is taken again at most this often (a program that
 * loads and unloads libraries all the time would otherwise have the
 * collector re-read /proc/self/maps and reopen every file per sample). */
#define REFRESH_NS 100000000

/* Module ranges whose file faulted; beyond that many, libdw is not asked
 * anything more. */
#define MAX_BAD 16

/* A resolved pc: its chain is lines[first .. first + n) (indices, because
 * the lines array moves as it grows). */
struct pc_entry {
  uintptr_t pc;
  uint32_t first, n;
};

/* Two tables, each an array with a base/hash.h index over it: interned
 * strings (owned copies) and resolved pcs. */
struct symbolizer {
  Dwfl *dwfl;                          /* NULL after a fault abandoned it */
  unsigned long long dl_adds, dl_subs; /* the loader's counters at the snapshot */
  int64_t reported_ns;                 /* when the snapshot was taken */
  struct bad_range {
    uintptr_t lo, hi;
  } bad[MAX_BAD]; /* modules whose file faulted: [lo, hi) */
  int nbad;
  char **strs;
  size_t nstrs, strs_cap;
  struct hash_index str_ix;
  struct pc_entry *cache;
  size_t cache_n, cache_cap;
  struct hash_index cache_ix;
  struct symbolize_line *lines;
  size_t nlines, lines_cap;
  struct symbolize_mapping *maps;
  int nmaps;
};

static uint32_t hash_pc(uintptr_t pc) {
  return hash_fold(hash_fnv(HASH_FNV_INIT, &pc, sizeof pc));
}

/* ---- interned strings ---- */

static int str_eq(const void *ctx, uint32_t id, const void *key) {
  const struct symbolizer *s = ctx;
  return strcmp(s->strs[id], key) == 0;
}

/* Returns the interned copy of str, or NULL when out of memory. */
static const char *intern(struct symbolizer *s, const char *str) {
  uint32_t h = hash_fold(hash_fnv(HASH_FNV_INIT, str, strlen(str)));
  int64_t id = hash_find(&s->str_ix, h, str_eq, s, str);
  if (id >= 0) return s->strs[id];
  if (hash_reserve(&s->str_ix) || buf_grow(&s->strs, &s->strs_cap, s->nstrs + 1, sizeof *s->strs))
    return NULL;
  char *copy = strdup(str);
  if (!copy) return NULL;
  s->strs[s->nstrs] = copy;
  hash_put(&s->str_ix, h, (uint32_t)s->nstrs++);
  return copy;
}

/* ---- surviving a fault in a mapped file ---- */

/* The thread's guard while it runs guarded(); NULL otherwise.  Initial-exec:
 * the handler must not call __tls_get_addr. */
static __thread sigjmp_buf *guard_jmp __attribute__((tls_model("initial-exec")));
static struct sigaction guard_prev; /* the SIGBUS disposition ours wraps (set once) */
static atomic_bool guard_warned;
static atomic_bool trust_snapshot; /* test hook */

/* SIGBUS: a fault inside guarded() on this thread jumps back out of it;
 * anything else goes where it would have gone without us. */
static void guard_handler(int sig, siginfo_t *si, void *uc) {
  sigjmp_buf *jmp = guard_jmp;
  if (jmp && si->si_code > 0) { /* raised by the kernel for this thread's access */
    guard_jmp = NULL;
    siglongjmp(*jmp, 1);
  }
  struct sigaction prev = guard_prev;
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, si, uc);
  } else if (prev.sa_handler == SIG_IGN && si->si_code <= 0) {
    /* a SIGBUS sent by someone, ignored as before */
  } else if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
    /* A fault re-executes under the default action on return; a sent
     * signal is sent again (it stays blocked until we return). */
    signal(sig, SIG_DFL);
    if (si->si_code <= 0) raise(sig);
  } else {
    prev.sa_handler(sig);
  }
}

/* Puts guard_handler in place, once, wrapping whatever handled SIGBUS then
 * (the runtime's fault report, a sanitizer's, the program's).  Not again
 * later: a handler installed after ours may chain to ours, and wrapping it
 * in turn would loop.  One that does not chain turns the guard off (a
 * fault in libdw is then that handler's, as any other fault). */
static void guard_install_once(void) {
  struct sigaction sa = {.sa_sigaction = guard_handler, .sa_flags = SA_SIGINFO | SA_ONSTACK};
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, NULL, &guard_prev) == 0) sigaction(SIGBUS, &sa, NULL);
}

/*
 * Runs fn(arg) with SIGBUS unblocked on this thread (the collector runs
 * with every signal blocked, and a blocked fault kills the process
 * silently) and caught.  true when fn returned; false when it faulted and
 * was cut short.
 */
static bool guarded(void (*fn)(void *), void *arg) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, guard_install_once);
  sigset_t bus, old;
  sigemptyset(&bus);
  sigaddset(&bus, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &bus, &old);
  sigjmp_buf jmp;
  volatile bool ok = true;
  if (sigsetjmp(jmp, 0) == 0) {
    guard_jmp = &jmp;
    fn(arg);
  } else {
    ok = false;
  }
  guard_jmp = NULL;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return ok;
}

void symbolize_test_trust_snapshot(bool on) {
  atomic_store(&trust_snapshot, on);
}

/* ---- finding a module's debug file ---- */

/* Where a debug file named by .gnu_debuglink may be, relative to the
 * directory d of the module's file: elfutils' default debuginfo path
 * (":.debug:/usr/lib/debug"): d/, d/.debug/, /usr/lib/debug/d/. */
static const char *const debuglink_dirs[] = {"%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s"};

/* Is fd the debug file of mod: mod's build ID, or, when mod has none, the
 * CRC its .gnu_debuglink gave (crc; 0 means none given, so no check)? */
static bool debug_file_matches(Dwfl_Module *mod, int fd, GElf_Word crc) {
  const unsigned char *want;
  GElf_Addr vaddr;
  int want_len = dwfl_module_build_id(mod, &want, &vaddr);
  if (want_len > 0) {
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *have = NULL;
    ssize_t have_len = elf ? dwelf_elf_gnu_build_id(elf, &have) : -1;
    bool ok = have_len == want_len && memcmp(have, want, (size_t)want_len) == 0;
    elf_end(elf);
    return ok;
  }
  if (crc == 0) return true;
  uLong sum = crc32(0, Z_NULL, 0);
  unsigned char buf[8192];
  ssize_t n;
  off_t off = 0;
  while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
    sum = crc32(sum, buf, (uInt)n);
    off += n;
  }
  return n == 0 && (GElf_Word)sum == crc;
}

/* The .gnu_debuglink search of dwfl_standard_find_debuginfo (without its
 * sub-subdirectory walk and dwz alternate files, which Debian reaches by
 * build ID): debug_name (the debuglink, or the file's name + ".debug") in
 * debuglink_dirs around file_name and, if it is a symlink, its target.
 * Returns an open fd and sets *found (malloc'd), or -1. */
static int find_debuglink(Dwfl_Module *mod, const char *file_name, const char *debug_name,
                          GElf_Word crc, char **found) {
  if (!file_name || file_name[0] != '/') return -1;
  struct stat main_st;
  if (stat(file_name, &main_st) != 0) return -1;
  char *canon = realpath(file_name, NULL);
  const char *names[2] = {file_name, canon && strcmp(canon, file_name) ? canon : NULL};
  int fd = -1;
  for (int i = 0; i < 2 && fd < 0; i++) {
    if (!names[i]) continue;
    const char *base = strrchr(names[i], '/') + 1;
    char local[4096];
    const char *link = debug_name;
    if (!link) {
      if (snprintf(local, sizeof local, "%s.debug", base) >= (int)sizeof local) continue;
      link = local;
      crc = 0; /* an invented name comes with no CRC */
    }
    int dir_len = (int)(base - 1 - names[i]);
    for (size_t k = 0; k < sizeof debuglink_dirs / sizeof *debuglink_dirs && fd < 0; k++) {
      char dir[4096], path[8192];
      snprintf(dir, sizeof dir, "%.*s", dir_len, names[i]);
      if (snprintf(path, sizeof path, debuglink_dirs[k], dir, link) >= (int)sizeof path) continue;
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat st;
      /* The file itself by another name (a debuglink to itself) is no
       * debug file; nor is one with another build ID. */
      if (fstat(fd, &st) != 0 || (st.st_dev == main_st.st_dev && st.st_ino == main_st.st_ino) ||
          !debug_file_matches(mod, fd, crc) || !(*found = strdup(path))) {
        close(fd);
        fd = -1;
      }
    }
  }
  free(canon);
  return fd;
}

/* Whether libdw may ask debuginfod servers (symbolize_set_debuginfod). */
static atomic_bool debuginfod_allowed;

void symbolize_set_debuginfod(bool on) {
  atomic_store(&debuginfod_allowed, on);
}

/*
 * libdwfl's find_debuginfo callback.  dwfl_standard_find_debuginfo looks
 * under /usr/lib/debug/.build-id by build ID, then by .gnu_debuglink
 * beside the file, in .debug and under /usr/lib/debug, and then asks
 * debuginfod, which downloads from the servers DEBUGINFOD_URLS names
 * (Debian sets it for login shells) -- a network request, up to minutes,
 * and libdebuginfod with its thirty libraries loaded into the program,
 * from inside a profiler.  So unless the user asked for that
 * (GRT_DEBUGINFOD=1, read by src/top), the two local searches run without
 * it: dwfl_build_id_find_debuginfo, then find_debuglink.  The variable
 * itself is left alone: changing the environment of a running,
 * multithreaded program is not safe.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file_name, const char *debuglink, GElf_Word crc,
                          char **debuginfo_file_name) {
  if (atomic_load(&debuginfod_allowed))
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink, crc,
                                        debuginfo_file_name);
  int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink, crc,
                                        debuginfo_file_name);
  if (fd >= 0) return fd;
  return find_debuglink(mod, file_name, debuglink, crc, debuginfo_file_name);
}

/* Static because libdwfl keeps a pointer to the callbacks for the session.
 * debuginfo_path NULL: elfutils' default (":.debug:/usr/lib/debug"). */
static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

/* ---- the snapshot of the modules ---- */

/* What dl_iterate_phdr says about pc (0: nothing) and the loader. */
struct dl_query {
  uintptr_t pc;
  unsigned long long adds, subs;
  bool loaded;              /* pc is in an executable segment of a loaded object: */
  uintptr_t seg_lo, seg_hi; /* that segment */
};

static int dl_query_object(struct dl_phdr_info *info, size_t size, void *arg) {
  struct dl_query *q = arg;
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    q->adds = info->dlpi_adds;
    q->subs = info->dlpi_subs;
  }
  if (!q->pc) return 1;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && q->pc >= lo && q->pc - lo < ph->p_memsz) {
      q->loaded = true;
      q->seg_lo = lo;
      q->seg_hi = lo + ph->p_memsz;
      return 1;
    }
  }
  return 0;
}

static void dwfl_end_call(void *dwfl) {
  dwfl_end(dwfl);
}

/* Takes a new snapshot of the modules in place of the current one.  0, or
 * an errno value. */
static int report(struct symbolizer *s) {
  struct dl_query q = {0};
  dl_iterate_phdr(dl_query_object, &q); /* before the maps: a change after is seen next time */
  Dwfl *d = dwfl_begin(&proc_callbacks);
  if (!d) return ENOMEM;
  /* Returns an errno value, or -1 for a libdwfl error (no errno of its own). */
  int r = dwfl_linux_proc_report(d, getpid());
  if (r != 0 || dwfl_report_end(d, NULL, NULL) != 0) {
    dwfl_end(d);
    return r > 0 ? r : EIO;
  }
  /* Freeing the old session reads no file data, but it holds the files
   * that changed: a fault here leaks it, as a fault in a lookup does. */
  if (s->dwfl) guarded(dwfl_end_call, s->dwfl);
  s->dwfl = d;
  s->dl_adds = q.adds;
  s->dl_subs = q.subs;
  s->reported_ns = nanotime();
  return 0;
}

/* How module_at answers. */
enum module_answer {
  MODULE_OK,    /* *mod: libdw may read it */
  MODULE_NONE,  /* no module (or a bad one) at pc: unknown, for good */
  MODULE_LATER, /* the snapshot is stale and was just taken: unknown for now */
};

/* Is mod the module of the loaded object whose executable segment q found?
 * Its range (the file's mappings) holds the whole segment. */
static bool module_covers(Dwfl_Module *mod, const struct dl_query *q) {
  Dwarf_Addr lo, hi;
  return dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL) && lo <= q->seg_lo &&
         q->seg_hi <= hi;
}

/*
 * The module libdw may read for pc, after the checks the file's comment
 * gives.  The snapshot must be taken again after an unload (an object of
 * it may be gone, another in its place); after loads only, every object of
 * the snapshot is still there, at the same place, and only a pc in a new
 * one needs a new snapshot (libdw itself loads libdebuginfod while it
 * symbolizes).
 */
static enum module_answer module_at(struct symbolizer *s, uintptr_t pc, Dwfl_Module **mod) {
  if (s->nbad > MAX_BAD) return MODULE_NONE;
  if (atomic_load_explicit(&trust_snapshot, memory_order_relaxed)) {
    if (!s->dwfl && report(s) != 0) return MODULE_LATER;
    *mod = dwfl_addrmodule(s->dwfl, pc);
  } else {
    struct dl_query q = {.pc = pc};
    dl_iterate_phdr(dl_query_object, &q);
    if (!q.loaded) return MODULE_NONE;
    *mod = NULL;
    if (s->dwfl && q.subs == s->dl_subs) {
      *mod = dwfl_addrmodule(s->dwfl, pc);
      if (*mod && !module_covers(*mod, &q)) *mod = NULL;
    }
    if (!*mod) { /* unloads since the snapshot, or pc in an object newer than it */
      if (s->dwfl && q.adds == s->dl_adds && q.subs == s->dl_subs) return MODULE_NONE;
      if (nanotime() - s->reported_ns < REFRESH_NS) return MODULE_LATER;
      int err = report(s);
      s->reported_ns = nanotime(); /* tried: not again before REFRESH_NS */
      if (err) return MODULE_LATER;
      *mod = dwfl_addrmodule(s->dwfl, pc);
      if (*mod && !module_covers(*mod, &q)) *mod = NULL;
    }
  }
  if (!*mod) return MODULE_NONE;
  for (int i = 0; i < s->nbad; i++)
    if (pc >= s->bad[i].lo && pc < s->bad[i].hi) return MODULE_NONE;
  return MODULE_OK;
}

/* A guarded call into mod faulted: give up the session and mod's range. */
static void module_faulted(struct symbolizer *s, Dwfl_Module *mod) {
  Dwarf_Addr lo = 0, hi = 0;
  const char *name = dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
  if (!atomic_exchange(&guard_warned, true))
    warn_line("grt: profiler: SIGBUS reading %s (its file changed while loaded?); its frames "
              "are unknown from now on",
              name ? name : "a module");
  if (s->nbad < MAX_BAD) s->bad[s->nbad] = (struct bad_range){.lo = lo, .hi = hi};
  s->nbad++;
  s->dwfl = NULL; /* leaked: libdw may have been cut short mid-update */
  s->reported_ns = 0;
}

/* ---- DWARF lookups ---- */

/* The name of a subprogram or inlined_subroutine DIE.  Inlined instances
 * (and out-of-line copies of inline functions) carry no DW_AT_name of their
 * own: it lives on the abstract origin, which dwarf_attr_integrate follows. */
static const char *die_name(Dwarf_Die *die) {
  Dwarf_Attribute attr;
  const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name ? name : "?";
}

static int is_function_scope(Dwarf_Die *die) {
  int tag = dwarf_tag(die);
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

/* Fills out[0..n) for pc in mod from DWARF, innermost first, with libdw's
 * strings (interned by the caller).  Returns n, or 0 when mod has no DWARF
 * scope for pc.
 *
 * As eu-addr2line -i does: dwarf_getscopes finds the innermost scope at pc,
 * but above an inlined instance it continues through the abstract origin's
 * parents, not through the function the code was inlined into.  So only its
 * innermost DIE is used, and dwarf_getscopes_die then gives the physical
 * nesting: scope, ..., inlined_subroutine, ..., subprogram, CU.  Each
 * function-like scope there is one entry; the innermost one's position is
 * pc's line-table row, and each outer one's position is the call site
 * recorded on the inlined_subroutine just inside it (DW_AT_call_file/line). */
static int dwarf_chain(Dwfl_Module *mod, uintptr_t pc, struct symbolize_line *out) {
  Dwarf_Addr bias = 0;
  Dwarf_Die *cudie = dwfl_module_addrdie(mod, pc, &bias);
  if (!cudie) return 0;
  Dwarf_Die *scopes = NULL;
  int nscopes = dwarf_getscopes(cudie, pc - bias, &scopes);
  if (nscopes <= 0) {
    free(scopes);
    return 0;
  }
  Dwarf_Die innermost = scopes[0];
  free(scopes);
  scopes = NULL;
  nscopes = dwarf_getscopes_die(&innermost, &scopes);
  if (nscopes <= 0) {
    free(scopes);
    return 0;
  }

  Dwarf_Files *files = NULL;
  if (dwarf_getsrcfiles(cudie, &files, NULL) != 0) files = NULL;

  int n = 0;
  Dwarf_Die *inner_call = NULL; /* the inlined_subroutine just inside */
  for (int i = 0; i < nscopes && n < MAX_CHAIN; i++) {
    Dwarf_Die *die = &scopes[i];
    if (!is_function_scope(die)) continue;
    struct symbolize_line *l = &out[n];
    l->function = die_name(die);
    l->file = "";
    l->line = 0;
    if (!inner_call) {
      Dwfl_Line *row = dwfl_module_getsrc(mod, pc);
      int lineno = 0;
      const char *file = row ? dwfl_lineinfo(row, NULL, &lineno, NULL, NULL, NULL) : NULL;
      if (file) {
        l->file = file;
        l->line = lineno;
      }
    } else {
      Dwarf_Attribute attr;
      Dwarf_Word val;
      if (files && dwarf_formudata(dwarf_attr(inner_call, DW_AT_call_file, &attr), &val) == 0) {
        const char *file = dwarf_filesrc(files, val, NULL, NULL);
        if (file) l->file = file;
      }
      if (dwarf_formudata(dwarf_attr(inner_call, DW_AT_call_line, &attr), &val) == 0)
        l->line = (int)val;
    }
    n++;
    /* The real (out-of-line) function ends the chain; a subprogram nested
     * in another (a GNU C nested function) is a function of its own. */
    if (dwarf_tag(die) != DW_TAG_inlined_subroutine) break;
    inner_call = die;
  }
  free(scopes);
  return n;
}

/* An ELF mapping symbol: "$x" (code) or "$d" (data) at the start of each
 * run of one kind, optionally "$x.<anything>" (AArch64 ELF ABI; "$a" and
 * "$t" on 32-bit Arm).  They are sizeless labels, so libdwfl returns one
 * for a pc that no function symbol covers (the PLT's stubs): it names no
 * function. */
static bool mapping_symbol(const char *name) {
  return name[0] == '$' && name[1] && strchr("adtx", name[1]) && (name[2] == 0 || name[2] == '.');
}

struct resolve_call {
  Dwfl_Module *mod;
  uintptr_t pc;
  struct symbolize_line *out;
  int n;
};

/* Reads mod's DWARF (or symbols) for pc: the guarded part of resolve. */
static void resolve_in(void *arg) {
  struct resolve_call *c = arg;
  c->n = dwarf_chain(c->mod, c->pc, c->out);
  if (c->n > 0) return;
  /* No DWARF (stripped library without debuginfo): the ELF symbol, and a
   * line if a line table exists anyway. */
  c->n = 1;
  const char *sym = dwfl_module_addrname(c->mod, c->pc);
  if (sym && !mapping_symbol(sym)) c->out[0].function = sym;
  Dwfl_Line *row = dwfl_module_getsrc(c->mod, c->pc);
  int lineno = 0;
  const char *file = row ? dwfl_lineinfo(row, NULL, &lineno, NULL, NULL, NULL) : NULL;
  if (file) {
    c->out[0].file = file;
    c->out[0].line = lineno;
  }
}

/* Resolves pc into out[0..n), strings not yet interned.  Always n >= 1;
 * *cache false when the answer is unknown for now only. */
static int resolve(struct symbolizer *s, uintptr_t pc, struct symbolize_line *out, bool *cache) {
  static const struct symbolize_line unknown = {.function = "?", .file = "", .line = 0};
  out[0] = unknown;
  *cache = true;
  Dwfl_Module *mod;
  enum module_answer a = module_at(s, pc, &mod);
  if (a != MODULE_OK) {
    *cache = a == MODULE_NONE;
    return 1;
  }
  struct resolve_call c = {.mod = mod, .pc = pc, .out = out};
  if (guarded(resolve_in, &c)) return c.n;
  module_faulted(s, mod);
  out[0] = unknown;
  return 1;
}

/* ---- the pc cache ---- */

static int pc_eq(const void *ctx, uint32_t id, const void *key) {
  const struct symbolizer *s = ctx;
  return s->cache[id].pc == *(const uintptr_t *)key;
}

/* Resolves pc, interns its chain and records it.  NULL when out of memory,
 * or when pc's module cannot be asked for now (module_at). */
static struct pc_entry *cache_fill(struct symbolizer *s, uintptr_t pc) {
  if (hash_reserve(&s->cache_ix) ||
      buf_grow(&s->cache, &s->cache_cap, s->cache_n + 1, sizeof *s->cache))
    return NULL;
  struct symbolize_line chain[MAX_CHAIN];
  bool cache;
  int n = resolve(s, pc, chain, &cache);
  if (!cache) return NULL; /* unknown for now: asked again next time */
  if (buf_grow(&s->lines, &s->lines_cap, s->nlines + (size_t)n, sizeof *s->lines)) return NULL;
  for (int i = 0; i < n; i++) {
    chain[i].function = intern(s, chain[i].function);
    chain[i].file = intern(s, chain[i].file);
    if (!chain[i].function || !chain[i].file) return NULL;
  }
  memcpy(&s->lines[s->nlines], chain, (size_t)n * sizeof *chain);
  struct pc_entry *e = &s->cache[s->cache_n];
  *e = (struct pc_entry){.pc = pc, .first = (uint32_t)s->nlines, .n = (uint32_t)n};
  s->nlines += (size_t)n;
  hash_put(&s->cache_ix, hash_pc(pc), (uint32_t)s->cache_n++);
  return e;
}

int symbolize_pc(symbolizer *s, uintptr_t pc, struct symbolize_line *lines, int max) {
  if (max < 1) return 0;
  int64_t id = hash_find(&s->cache_ix, hash_pc(pc), pc_eq, s, &pc);
  struct pc_entry *e = id >= 0 ? &s->cache[id] : cache_fill(s, pc);
  if (!e) {
    /* Out of memory, or unknown for now: still an answer, as the interface
     * promises. */
    lines[0] = (struct symbolize_line){.function = "?", .file = "", .line = 0};
    return 1;
  }
  int n = (int)e->n < max ? (int)e->n : max;
  memcpy(lines, &s->lines[e->first], (size_t)n * sizeof *lines);
  return n;
}

/* ---- frame state at an interrupted instruction ---- */

/* ---- mappings ---- */

struct build_id_call {
  Dwfl_Module *mod;
  char *hex;
};

/* Guarded: reads the module's file. */
static void build_id_in(void *arg) {
  struct build_id_call *c = arg;
  /* The build ID is read from the module's ELF file, which libdwfl opens
   * lazily; open it first or a fresh module reports none. */
  Dwarf_Addr bias;
  (void)dwfl_module_getelf(c->mod, &bias);
  const unsigned char *bits;
  GElf_Addr vaddr;
  int len = dwfl_module_build_id(c->mod, &bits, &vaddr);
  if (len <= 0 || len > 32) return;
  for (int i = 0; i < len; i++)
    snprintf(c->hex + 2 * i, 3, "%02x", bits[i]);
}

/* Writes mod's GNU build ID in lowercase hex into hex (65 bytes), or "". */
static void build_id_hex(struct symbolizer *s, Dwfl_Module *mod, char hex[65]) {
  hex[0] = 0;
  if (!mod) return;
  struct build_id_call c = {.mod = mod, .hex = hex};
  if (!guarded(build_id_in, &c)) {
    module_faulted(s, mod);
    hex[0] = 0;
  }
}

/* The module reported for a mapping at start, or NULL.  Only files and the
 * vDSO are modules: anonymous code (JITs) has no build ID, and
 * dwfl_addrmodule can answer with a neighbouring module for addresses no
 * module covers (seen for [vsyscall]), so the range is checked too. */
static Dwfl_Module *mapping_module(Dwfl *dwfl, uintptr_t start, const char *path) {
  if (!dwfl || (path[0] != '/' && strcmp(path, "[vdso]") != 0)) return NULL;
  Dwfl_Module *mod = dwfl_addrmodule(dwfl, start);
  Dwarf_Addr low, high;
  if (!mod || !dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL)) return NULL;
  return low <= start && start < high ? mod : NULL;
}

/* Reads the executable mappings from /proc/self/maps (sorted by address
 * there).  Returns 0, or -1 with errno. */
static int read_mappings(struct symbolizer *s) {
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) return -1;
  char *buf = NULL;
  size_t bufsize = 0;
  int cap = 0, err = 0;
  while (getline(&buf, &bufsize, f) > 0) {
    unsigned long start, limit;
    unsigned long long offset;
    char perms[8];
    int path_at = 0;
    /* start-limit perms offset dev inode [path]; the path may hold spaces */
    if (sscanf(buf, "%lx-%lx %7s %llx %*s %*s %n", &start, &limit, perms, &offset, &path_at) < 4 ||
        path_at == 0)
      continue;
    if (strlen(perms) < 3 || perms[2] != 'x') continue;
    char *path = buf + path_at;
    path[strcspn(path, "\n")] = 0;
    if (s->nmaps == cap) {
      cap = cap ? 2 * cap : 32;
      struct symbolize_mapping *maps = realloc(s->maps, (size_t)cap * sizeof *maps);
      if (!maps) {
        err = ENOMEM;
        break;
      }
      s->maps = maps;
    }
    struct symbolize_mapping *m = &s->maps[s->nmaps];
    m->start = start;
    m->limit = limit;
    m->offset = offset;
    m->file = intern(s, path);
    if (!m->file) {
      err = ENOMEM;
      break;
    }
    build_id_hex(s, mapping_module(s->dwfl, start, path), m->build_id);
    s->nmaps++;
  }
  free(buf);
  fclose(f);
  if (err) errno = err;
  return err ? -1 : 0;
}

int symbolize_mappings(symbolizer *s, const struct symbolize_mapping **out) {
  *out = s->maps;
  return s->nmaps;
}

/* ---- life cycle ---- */

symbolizer *symbolize_open(void) {
  symbolizer *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  int err = report(s);
  if (!err && read_mappings(s) != 0) err = errno;
  if (err) {
    symbolize_close(s);
    errno = err;
    return NULL;
  }
  return s;
}

void symbolize_close(symbolizer *s) {
  if (!s) return;
  if (s->dwfl) guarded(dwfl_end_call, s->dwfl); /* a fault leaks it */
  for (size_t i = 0; i < s->nstrs; i++)
    free(s->strs[i]);
  free(s->strs);
  hash_free(&s->str_ix);
  free(s->cache);
  hash_free(&s->cache_ix);
  free(s->lines);
  free(s->maps);
  free(s);
}
