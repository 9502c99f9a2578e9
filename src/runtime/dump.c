/*
 * dump.c - every goroutine's stack, as Go's traceback prints it (grt_dump,
 * the SIGQUIT dump) and as Go's goroutine profile (dump_goroutine_profile).
 *
 * Invariants:
 *  - No stop-the-world: other threads keep starting, parking and ending
 *    goroutines, and reusing their stacks, while a dump reads them.  G
 *    structs are never freed (sched_allg), so their fields are read in
 *    place with atomic loads.  Another goroutine's stack is never
 *    dereferenced: its words are copied with process_vm_readv on our own
 *    pid, which fails with EFAULT instead of faulting when the memory went
 *    away meanwhile.
 *  - A stack copy counts only if g->switches (bumped by sched.c each time
 *    the G starts and stops running) and g->status read the same after the
 *    copy as before: a seqlock.  Otherwise it is retried, then reported as
 *    unavailable.  A G inside grt_extcall does not switch, but its frames
 *    above the EXTCALL record stay put until the record is unpublished, so
 *    there the record's address and contents are checked the same way.
 *  - Everything is collected and formatted in memory first: no lock is
 *    held while writing (only sched.lock, to read the allg head).  From a
 *    goroutine the work runs through grt_extcall, so its P runs others.
 *  - The SIGQUIT handler only writes a byte to a pipe; a thread with every
 *    signal blocked does the dump, then exits the process with status 2.
 */
#define _GNU_SOURCE
#include "runtime/dump.h"
#include "runtime/runtime.h"

#include "prof/pprof.h"
#include "prof/symbolize.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAMES 100 /* as Go's traceback; deeper stacks are elided */
#define MAX_TRIES 8    /* seqlock retries before "goroutine moved" */
#define WINDOW 2048    /* stack bytes copied per process_vm_readv */
#define MAX_LINES 64   /* inline chain per pc */

/* A racy read of a field another thread writes: never torn, maybe stale. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

enum gkind {
  GK_FRAMES,    /* the stack was read */
  GK_ELSEWHERE, /* running on another thread */
  GK_MOVED,     /* kept switching while we read it */
};

struct gsnap {
  uint64_t id;
  const char *state; /* a string literal: the waitreason, "running", ... */
  char name[32];
  bool locked, elided, self;
  enum gkind kind;
  size_t first; /* its frames are snap.pcs[first .. first + n): call sites, leaf first */
  int n;
};

struct snap {
  struct gsnap *gs;
  size_t ng, gcap;
  uintptr_t *pcs;
  size_t npcs, pcap;
};

static int grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : 256;
  while (ncap < need)
    ncap *= 2;
  void *n = realloc(*(void **)p, ncap * elem);
  if (!n) return -ENOMEM;
  *(void **)p = n;
  *cap = ncap;
  return 0;
}

static int push_pc(struct snap *s, uintptr_t pc) {
  if (grow(&s->pcs, &s->pcap, s->npcs + 1, sizeof *s->pcs)) return -ENOMEM;
  s->pcs[s->npcs++] = pc;
  return 0;
}

/* ---- reading other goroutines' stacks --------------------------------------- */

/* A window of a stack copied in one system call: most parked goroutines'
 * whole chain fits in one. */
struct stackreader {
  pid_t pid;
  uintptr_t base;
  size_t len;
  unsigned char buf[WINDOW];
};

static bool copy_remote(pid_t pid, void *dst, uintptr_t src, size_t n) {
  struct iovec local = {dst, n}, remote = {(void *)src, n};
  return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)n;
}

/* The two words at addr (addr + 16 <= hi), through the window. */
static bool read_frame(struct stackreader *r, uintptr_t addr, uintptr_t hi, uintptr_t out[2]) {
  if (!(addr >= r->base && addr - r->base <= r->len && r->len - (addr - r->base) >= 16)) {
    size_t n = hi - addr < WINDOW ? hi - addr : WINDOW;
    struct iovec local = {r->buf, n}, remote = {(void *)addr, n};
    ssize_t got = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
    r->base = addr;
    r->len = got > 0 ? (size_t)got : 0;
    if (r->len < 16) return false;
  }
  memcpy(out, r->buf + (addr - r->base), 16);
  return true;
}

/* Appends the frames of a stopped goroutine: pc is a return address (the
 * one sched_mcall saved, or grt_extcall's in an EXTCALL record), then the
 * frame-pointer chain from fp, each frame above the last and inside
 * [lo, hi), 8-aligned, until FP 0 (sched_goentry's frame).  A chain that
 * breaks off (code without frame pointers) just ends there. */
static int walk(struct snap *s, struct stackreader *r, struct gsnap *g, uintptr_t pc, uintptr_t fp,
                uintptr_t sp, uintptr_t lo, uintptr_t hi) {
  if (pc < PROF_PC_PSEUDO_LIMIT) return 0;
  if (push_pc(s, pc - 1)) return -ENOMEM;
  uintptr_t min = sp;
  while (fp != 0) {
    uintptr_t w[2];
    if ((fp & 7) || fp < min || fp < lo || hi < 16 || fp > hi - 16) break;
    if (!read_frame(r, fp, hi, w) || w[1] < PROF_PC_PSEUDO_LIMIT) break;
    if (s->npcs - g->first >= MAX_FRAMES) {
      g->elided = true;
      break;
    }
    if (push_pc(s, w[1] - 1)) return -ENOMEM;
    min = fp + 16;
    fp = w[0];
  }
  return 0;
}

/* The innermost EXTCALL record of gp's M, copied, if gp is in an extcall
 * (the record lives in grt_extcall's frame, on gp's own stack). */
static bool extcall_record(struct g *gp, struct m *mp, struct transition **at,
                           struct transition *rec) {
  if (!mp || LOAD(mp->curg) != gp || atomic_load(&mp->ext_depth) <= 0) return false;
  struct transition *t = atomic_load_explicit(&mp->trans, memory_order_acquire);
  uintptr_t p = (uintptr_t)t, lo = LOAD(gp->stack_lo), hi = LOAD(gp->stack_hi);
  if (!t || (p & 7) || p < lo || p > hi || hi - p < sizeof *rec) return false;
  if (!copy_remote(getpid(), rec, p, sizeof *rec)) return false;
  *at = t;
  return rec->kind == TRANS_EXTCALL && rec->lo == lo && rec->hi == hi && rec->sp >= lo &&
         rec->sp < hi;
}

/* Snapshots gp into s (nothing for idle and dead Gs).  self: the caller of
 * the dump, which is inside grt_extcall while this runs. */
static int snap_g(struct snap *s, struct stackreader *r, struct g *gp, struct g *self) {
  struct gsnap g;
  for (int tries = 0;; tries++) {
    uint32_t sw = atomic_load_explicit(&gp->switches, memory_order_acquire);
    uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
    if (st != G_RUNNABLE && st != G_RUNNING && st != G_WAITING) return 0;
    g = (struct gsnap){.id = LOAD(gp->id),
                       .first = s->npcs,
                       .locked = LOAD(gp->lockedm) != NULL,
                       .self = gp == self};
    memcpy(g.name, gp->name, sizeof g.name); /* racy but bounded; NUL forced below */
    g.name[sizeof g.name - 1] = 0;
    if (tries == MAX_TRIES) {
      g.kind = GK_MOVED;
      g.state = st == G_RUNNING ? "running" : st == G_RUNNABLE ? "runnable" : "waiting";
      break;
    }
    r->len = 0; /* a window from an earlier try may be stale */
    uintptr_t lo = LOAD(gp->stack_lo), hi = LOAD(gp->stack_hi);
    bool stable = true;
    if (st == G_RUNNING) {
      struct m *mp = LOAD(gp->m);
      struct transition *at = NULL, rec, rec2;
      if (extcall_record(gp, mp, &at, &rec)) {
        g.state = gp == self ? "running" : "extcall";
        if (walk(s, r, &g, rec.pc, rec.fp, rec.sp, lo, hi)) return -ENOMEM;
        stable = LOAD(gp->m) == mp && LOAD(mp->curg) == gp &&
                 atomic_load_explicit(&mp->trans, memory_order_acquire) == at &&
                 copy_remote(r->pid, &rec2, (uintptr_t)at, sizeof rec2) && rec2.sp == rec.sp &&
                 rec2.pc == rec.pc && rec2.fp == rec.fp;
      } else {
        g.kind = GK_ELSEWHERE;
        g.state = "running";
      }
    } else {
      uintptr_t pc = LOAD(gp->ctx.pc), fp = LOAD(gp->ctx.fp), sp = LOAD(gp->ctx.sp);
      const char *why = LOAD(gp->waitreason);
      g.state = st == G_RUNNABLE ? "runnable" : why ? why : "waiting";
      if (pc == (uintptr_t)sched_goentry) {
        /* Not started yet: show the function it will run, as Go does. */
        uintptr_t fn = (uintptr_t)LOAD(gp->fn);
        if (fn >= PROF_PC_PSEUDO_LIMIT && push_pc(s, fn)) return -ENOMEM;
      } else if (walk(s, r, &g, pc, fp, sp, lo, hi)) {
        return -ENOMEM;
      }
    }
    atomic_thread_fence(memory_order_acquire);
    if (stable && atomic_load_explicit(&gp->switches, memory_order_relaxed) == sw &&
        atomic_load_explicit(&gp->status, memory_order_relaxed) == st && LOAD(gp->id) == g.id)
      break;
    s->npcs = g.first;
    g.elided = false;
  }
  g.n = (int)(s->npcs - g.first);
  if (grow(&s->gs, &s->gcap, s->ng + 1, sizeof *s->gs)) return -ENOMEM;
  s->gs[s->ng++] = g;
  return 0;
}

/* The caller first, as Go prints the current goroutine first; then by id. */
static int by_id(const void *a, const void *b) {
  const struct gsnap *x = a, *y = b;
  if (x->self != y->self) return x->self ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

static int collect(struct snap *s, struct g *self) {
  struct stackreader *r = malloc(sizeof *r);
  if (!r) return -ENOMEM;
  r->pid = getpid();
  r->len = 0;
  int err = 0;
  for (struct g *gp = sched_allg(); gp && !err; gp = gp->alllink)
    err = snap_g(s, r, gp, self);
  free(r);
  if (err) return err;
  if (s->ng) qsort(s->gs, s->ng, sizeof *s->gs, by_id);
  return 0;
}

/* ---- formatting ------------------------------------------------------------ */

struct sbuf {
  char *p;
  size_t len, cap;
  int err;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...) {
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
    if (grow(&b->p, &b->cap, b->len + (size_t)n + 1, 1)) {
      b->err = -ENOMEM;
      return;
    }
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (w == 0) return -EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The offset of return address pc + 1 from the start of function fn, when
 * the dynamic symbol table names fn there (static functions of an
 * executable are not in it: then -1). */
static long fn_offset(uintptr_t pc, const char *fn) {
  Dl_info info;
  if (!dladdr((void *)pc, &info) || !info.dli_sname || !info.dli_saddr) return -1;
  if (strcmp(info.dli_sname, fn) != 0) return -1;
  uintptr_t entry = (uintptr_t)info.dli_saddr;
  return pc == entry ? 0 : (long)(pc + 1 - entry);
}

static int symbolize(prof_symbolizer *sym, uintptr_t pc, struct prof_line *lines) {
  if (sym) return prof_symbolize(sym, pc, lines, MAX_LINES);
  lines[0] = (struct prof_line){"?", "", 0};
  return 1;
}

static void name_suffix(struct sbuf *b, const struct gsnap *g) {
  if (g->locked) sb_printf(b, ", locked to thread");
  if (!g->name[0]) return;
  sb_printf(b, ", \"");
  for (const char *c = g->name; *c; c++)
    sb_printf(b, "%c", *c >= 0x20 && *c < 0x7f && *c != '"' ? *c : '?');
  sb_printf(b, "\"");
}

/* Go's traceback text (debug=2, grt_dump, SIGQUIT). */
static void format_traceback(struct sbuf *b, const struct snap *s, prof_symbolizer *sym) {
  struct prof_line lines[MAX_LINES];
  for (size_t i = 0; i < s->ng; i++) {
    const struct gsnap *g = &s->gs[i];
    sb_printf(b, "%sgoroutine %llu [%s", i ? "\n" : "", (unsigned long long)g->id, g->state);
    name_suffix(b, g);
    sb_printf(b, "]:\n");
    if (g->kind == GK_ELSEWHERE)
      sb_printf(b, "\tgoroutine running on other thread; stack unavailable\n");
    else if (g->kind == GK_MOVED)
      sb_printf(b, "\tstack unavailable (goroutine moved)\n");
    for (int k = 0; k < g->n; k++) {
      uintptr_t pc = s->pcs[g->first + k];
      int n = symbolize(sym, pc, lines);
      for (int j = 0; j < n; j++) {
        const struct prof_line *l = &lines[j];
        if (strcmp(l->function, "?") == 0) {
          sb_printf(b, "?()\n\t?:0 pc=%#lx\n", (unsigned long)pc);
          continue;
        }
        sb_printf(b, "%s(...)\n\t%s:%d", l->function, l->file[0] ? l->file : "?", l->line);
        long off = j == n - 1 ? fn_offset(pc, l->function) : -1; /* inlined: none */
        if (off >= 0) sb_printf(b, " +%#lx", (unsigned long)off);
        sb_printf(b, "\n");
      }
    }
    if (g->elided) sb_printf(b, "...additional frames elided...\n");
  }
}

/* Goroutines with the same stack, for the goroutine profile. */
struct group {
  const struct gsnap *g; /* one of them */
  long count;
};

static const struct snap *cmp_snap;

static int by_stack(const void *a, const void *b) {
  const struct gsnap *x = *(const struct gsnap *const *)a, *y = *(const struct gsnap *const *)b;
  if (x->kind != y->kind) return x->kind == GK_FRAMES ? -1 : y->kind == GK_FRAMES;
  if (x->n != y->n) return x->n < y->n ? -1 : 1;
  int c =
      memcmp(cmp_snap->pcs + x->first, cmp_snap->pcs + y->first, (size_t)x->n * sizeof(uintptr_t));
  if (c) return c;
  return x < y ? -1 : x > y; /* stable, for a deterministic order */
}

static int by_count(const void *a, const void *b) {
  const struct group *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return x->g < y->g ? -1 : x->g > y->g;
}

static bool same_stack(const struct snap *s, const struct gsnap *x, const struct gsnap *y) {
  bool xs = x->kind == GK_FRAMES, ys = y->kind == GK_FRAMES;
  if (!xs || !ys) return xs == ys; /* all stackless goroutines are one group */
  return x->n == y->n &&
         !memcmp(s->pcs + x->first, s->pcs + y->first, (size_t)x->n * sizeof(uintptr_t));
}

/* Groups s's goroutines by stack, most common first.  NULL on ENOMEM. */
static struct group *group_stacks(const struct snap *s, size_t *ngroups) {
  const struct gsnap **order = malloc((s->ng + 1) * sizeof *order);
  struct group *groups = malloc((s->ng + 1) * sizeof *groups);
  if (!order || !groups) {
    free(order);
    free(groups);
    return NULL;
  }
  for (size_t i = 0; i < s->ng; i++)
    order[i] = &s->gs[i];
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* qsort has no context */
  pthread_mutex_lock(&mu);
  cmp_snap = s;
  if (s->ng) qsort(order, s->ng, sizeof *order, by_stack);
  pthread_mutex_unlock(&mu);
  size_t n = 0;
  for (size_t i = 0; i < s->ng; i++) {
    if (n && same_stack(s, groups[n - 1].g, order[i]))
      groups[n - 1].count++;
    else
      groups[n++] = (struct group){order[i], 1};
  }
  free(order);
  if (n) qsort(groups, n, sizeof *groups, by_count);
  *ngroups = n;
  return groups;
}

/* Go's debug=1 goroutine profile text. */
static int format_profile_text(struct sbuf *b, const struct snap *s, prof_symbolizer *sym) {
  size_t ng;
  struct group *groups = group_stacks(s, &ng);
  if (!groups) return -ENOMEM;
  struct prof_line lines[MAX_LINES];
  sb_printf(b, "goroutine profile: total %zu\n", s->ng);
  for (size_t i = 0; i < ng; i++) {
    const struct gsnap *g = groups[i].g;
    sb_printf(b, "%ld @", groups[i].count);
    for (int k = 0; k < g->n; k++) /* return addresses, as Go lists them */
      sb_printf(b, " %#lx", (unsigned long)s->pcs[g->first + k] + 1);
    sb_printf(b, "\n");
    if (g->kind != GK_FRAMES)
      sb_printf(b, "#\tstack unavailable (running on another thread, or moving)\n");
    for (int k = 0; k < g->n; k++) {
      uintptr_t pc = s->pcs[g->first + k];
      int n = symbolize(sym, pc, lines);
      for (int j = 0; j < n; j++) {
        const struct prof_line *l = &lines[j];
        long off = fn_offset(pc, l->function);
        sb_printf(b, "#\t%#lx\t%s", (unsigned long)pc, l->function);
        if (off >= 0) sb_printf(b, "+%#lx", (unsigned long)off);
        sb_printf(b, "\t%s:%d\n", l->file, l->line);
      }
    }
    sb_printf(b, "\n");
  }
  free(groups);
  return b->err;
}

/* Go's debug=0 goroutine profile: gzipped pprof, goroutine/count.  A
 * goroutine whose stack is unavailable counts under grt._System; a stack
 * cut at MAX_FRAMES ends in grt._Truncated, as CPU profiles do. */
static int write_profile_proto(int fd, const struct snap *s, prof_symbolizer *sym) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  prof_writer *w =
      prof_writer_new_count("goroutine", "count", 1, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
  if (!w) return -errno;
  int err = 0;
  uintptr_t stack[MAX_FRAMES + 1];
  for (size_t i = 0; i < s->ng && !err; i++) {
    const struct gsnap *g = &s->gs[i];
    int n = 0;
    if (g->kind != GK_FRAMES) {
      stack[n++] = PROF_PC_SYSTEM;
    } else {
      for (int k = 0; k < g->n && n < MAX_FRAMES; k++)
        stack[n++] = s->pcs[g->first + k];
      if (g->elided) stack[n++] = PROF_PC_TRUNCATED;
    }
    err = prof_writer_add(w, stack, n, NULL, 1);
  }
  if (!err) err = prof_writer_write(w, sym, 0, fd);
  prof_writer_free(w);
  return err;
}

/* ---- entry points ------------------------------------------------------------ */

struct job {
  int fd, debug;
  struct g *self;
  int err;
};

static void *run_job(void *arg) {
  struct job *j = arg;
  struct snap s = {0};
  struct sbuf b = {0};
  prof_symbolizer *sym = NULL;
  int err = collect(&s, j->self);
  if (!err) sym = prof_symbolizer_new(); /* NULL: addresses only */
  if (!err && j->debug == 0) {
    err = write_profile_proto(j->fd, &s, sym);
  } else if (!err) {
    if (j->debug == 1)
      err = format_profile_text(&b, &s, sym);
    else
      format_traceback(&b, &s, sym);
    if (!err) err = b.err;
    if (!err) err = write_all(j->fd, b.p ? b.p : "", b.len);
  }
  if (sym) prof_symbolizer_free(sym);
  free(b.p);
  free(s.gs);
  free(s.pcs);
  j->err = err;
  return NULL;
}

/* Inlined, so that grt_dump's own frame shows in the caller's stack. */
static inline __attribute__((always_inline)) int run(int fd, int debug) {
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) return -EBADF;
  struct job j = {fd, debug, getcurg(), 0};
  if (j.self)
    grt_extcall(run_job, &j);
  else
    run_job(&j);
  return j.err;
}

int grt_dump(int fd) {
  return run(fd, 2);
}

int dump_goroutine_profile(int fd, int debug) {
  if (debug < 0) return -EINVAL;
  return run(fd, debug > 2 ? 2 : debug);
}

/* ---- SIGQUIT -------------------------------------------------------------------- */

static int quit_pipe[2] = {-1, -1};

static void sigquit_handler(int sig) {
  (void)sig;
  int saved = errno;
  char c = 'q';
  ssize_t r = write(quit_pipe[1], &c, 1); /* non-blocking: a full pipe already woke it */
  (void)r;
  errno = saved;
}

static void *quit_thread(void *unused) {
  (void)unused;
  char c;
  for (;;) {
    ssize_t r = read(quit_pipe[0], &c, 1);
    if (r == 1) break;
    if (r < 0 && errno == EINTR) continue;
    return NULL;
  }
  static const char hdr[] = "SIGQUIT: quit\n\n";
  ssize_t w = write(2, hdr, sizeof hdr - 1);
  (void)w;
  grt_dump(2);
  _exit(2);
}

void dump_install_sigquit(void) {
  struct sigaction old;
  if (sigaction(SIGQUIT, NULL, &old) != 0) return;
  /* A handler the program set (or SIG_IGN) before grt_main stays. */
  if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) return;
  if (pipe2(quit_pipe, O_CLOEXEC) != 0) {
    sched_warn("grt: SIGQUIT dumps disabled: pipe: %s", strerror(errno));
    return;
  }
  fcntl(quit_pipe[1], F_SETFL, O_NONBLOCK);
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved); /* the thread inherits: no signal lands there */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, quit_thread, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (err) {
    sched_warn("grt: SIGQUIT dumps disabled: pthread_create: %s", strerror(err));
    close(quit_pipe[0]);
    close(quit_pipe[1]);
    quit_pipe[0] = quit_pipe[1] = -1;
    return;
  }
  pthread_setname_np(t, "grt-sigquit");
  struct sigaction sa = {0};
  sa.sa_handler = sigquit_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigaction(SIGQUIT, &sa, NULL);
}
