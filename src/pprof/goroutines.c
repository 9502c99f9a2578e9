/*
 * goroutines.c - every goroutine's stack as Go prints it: the traceback
 * (grt_dump, the SIGQUIT dump) and the goroutine profile in its three
 * forms (goroutines_write, for /debug/pprof/goroutine).
 *
 * The snapshot itself is the runtime's (runtime/snapshot.c, no
 * stop-the-world); this file only symbolizes and formats it.  Everything
 * is formatted in memory first, so no lock is held while writing to fd.
 * From a goroutine the work runs through grt_extcall, so its P runs others.
 */
#define _GNU_SOURCE
#include "pprof/goroutines.h"

#include "base/buf.h"
#include "base/unwind.h"
#include "pprof/pprof.h"
#include "pprof/symbolize.h"
#include "runtime/runtime.h"
#include "runtime/snapshot.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINES 64 /* inline chain per pc */

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

static int symbolize(symbolizer *sym, uintptr_t pc, struct symbolize_line *lines) {
  if (sym) return symbolize_pc(sym, pc, lines, MAX_LINES);
  lines[0] = (struct symbolize_line){"?", "", 0};
  return 1;
}

static void name_suffix(struct buf_str *b, const struct gsnap *g) {
  if (g->locked) buf_printf(b, ", locked to thread");
  if (!g->name[0]) return;
  buf_printf(b, ", \"");
  for (const char *c = g->name; *c; c++)
    buf_printf(b, "%c", *c >= 0x20 && *c < 0x7f && *c != '"' ? *c : '?');
  buf_printf(b, "\"");
}

/* As Go: "created by fn in goroutine N" and the grt_go call's position. */
static void created_by(struct buf_str *b, const struct gsnap *g, symbolizer *sym) {
  if (g->gopc < UNW_MIN_PC) return;
  struct symbolize_line lines[MAX_LINES];
  uintptr_t pc = g->gopc - 1; /* the call site */
  int n = symbolize(sym, pc, lines);
  const struct symbolize_line *l = &lines[n - 1]; /* the function it is in */
  buf_printf(b, "created by %s", l->function);
  if (g->parentid) buf_printf(b, " in goroutine %llu", (unsigned long long)g->parentid);
  buf_printf(b, "\n\t%s:%d", l->file[0] ? l->file : "?", l->line);
  long off = fn_offset(pc, l->function);
  if (off >= 0) buf_printf(b, " +%#lx", (unsigned long)off);
  buf_printf(b, "\n");
}

/* Go's traceback text (debug=2, grt_dump, SIGQUIT). */
static void format_traceback(struct buf_str *b, const struct snap *s, symbolizer *sym) {
  struct symbolize_line lines[MAX_LINES];
  for (size_t i = 0; i < s->ng; i++) {
    const struct gsnap *g = &s->gs[i];
    buf_printf(b, "%sgoroutine %llu [%s", i ? "\n" : "", (unsigned long long)g->id, g->state);
    /* As Go: the wait, in whole minutes, once it reaches one. */
    int64_t minutes = g->waited_ns / (60 * 1000000000LL);
    if (minutes >= 1) buf_printf(b, ", %lld minute%s", (long long)minutes, minutes > 1 ? "s" : "");
    name_suffix(b, g);
    buf_printf(b, "]:\n");
    if (g->kind == SNAP_ELSEWHERE)
      buf_printf(b, "\tgoroutine running on other thread; stack unavailable\n");
    else if (g->kind == SNAP_MOVED)
      buf_printf(b, "\tstack unavailable (goroutine moved)\n");
    for (int k = 0; k < g->n; k++) {
      uintptr_t pc = s->pcs[g->first + k];
      int n = symbolize(sym, pc, lines);
      for (int j = 0; j < n; j++) {
        const struct symbolize_line *l = &lines[j];
        if (strcmp(l->function, "?") == 0) {
          buf_printf(b, "?()\n\t?:0 pc=%#lx\n", (unsigned long)pc);
          continue;
        }
        buf_printf(b, "%s(...)\n\t%s:%d", l->function, l->file[0] ? l->file : "?", l->line);
        long off = j == n - 1 ? fn_offset(pc, l->function) : -1; /* inlined: none */
        if (off >= 0) buf_printf(b, " +%#lx", (unsigned long)off);
        buf_printf(b, "\n");
      }
    }
    if (g->elided) buf_printf(b, "...additional frames elided...\n");
    created_by(b, g, sym);
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
  if (x->kind != y->kind) return x->kind == SNAP_FRAMES ? -1 : y->kind == SNAP_FRAMES;
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
  bool xs = x->kind == SNAP_FRAMES, ys = y->kind == SNAP_FRAMES;
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
static int format_profile_text(struct buf_str *b, const struct snap *s, symbolizer *sym) {
  size_t ng;
  struct group *groups = group_stacks(s, &ng);
  if (!groups) return -ENOMEM;
  struct symbolize_line lines[MAX_LINES];
  buf_printf(b, "goroutine profile: total %zu\n", s->ng);
  for (size_t i = 0; i < ng; i++) {
    const struct gsnap *g = groups[i].g;
    buf_printf(b, "%ld @", groups[i].count);
    for (int k = 0; k < g->n; k++) /* return addresses, as Go lists them */
      buf_printf(b, " %#lx", (unsigned long)s->pcs[g->first + k] + 1);
    buf_printf(b, "\n");
    if (g->kind != SNAP_FRAMES)
      buf_printf(b, "#\tstack unavailable (running on another thread, or moving)\n");
    for (int k = 0; k < g->n; k++) {
      uintptr_t pc = s->pcs[g->first + k];
      int n = symbolize(sym, pc, lines);
      for (int j = 0; j < n; j++) {
        const struct symbolize_line *l = &lines[j];
        long off = fn_offset(pc, l->function);
        buf_printf(b, "#\t%#lx\t%s", (unsigned long)pc, l->function);
        if (off >= 0) buf_printf(b, "+%#lx", (unsigned long)off);
        buf_printf(b, "\t%s:%d\n", l->file, l->line);
      }
    }
    buf_printf(b, "\n");
  }
  free(groups);
  return b->err;
}

/* Go's debug=0 goroutine profile: gzipped pprof, goroutine/count.  A
 * goroutine whose stack is unavailable counts under grt._System; a stack
 * cut at MAX_FRAMES ends in grt._Truncated, as CPU profiles do. */
static int write_profile_proto(int fd, const struct snap *s, symbolizer *sym) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  pprof_writer *w =
      pprof_writer_new_count("goroutine", "count", 1, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
  if (!w) return -errno;
  int err = 0;
  uintptr_t stack[SNAP_MAX_FRAMES + 1];
  for (size_t i = 0; i < s->ng && !err; i++) {
    const struct gsnap *g = &s->gs[i];
    int n = 0;
    if (g->kind != SNAP_FRAMES) {
      stack[n++] = PROF_PC_SYSTEM;
    } else {
      for (int k = 0; k < g->n && n < SNAP_MAX_FRAMES; k++)
        stack[n++] = s->pcs[g->first + k];
      if (g->elided) stack[n++] = PROF_PC_TRUNCATED;
    }
    err = pprof_writer_add(w, stack, n, NULL, 1);
  }
  if (!err) err = pprof_writer_write(w, sym, 0, fd);
  pprof_writer_free(w);
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
  struct buf_str b = {0};
  symbolizer *sym = NULL;
  int err = snap_collect(&s, j->self);
  if (!err) sym = symbolize_open(); /* NULL: addresses only */
  if (!err && j->debug == 0) {
    err = write_profile_proto(j->fd, &s, sym);
  } else if (!err) {
    if (j->debug == 1)
      err = format_profile_text(&b, &s, sym);
    else
      format_traceback(&b, &s, sym);
    if (!err) err = b.err;
    if (!err) err = buf_write_all(j->fd, b.p ? b.p : "", b.len);
  }
  if (sym) symbolize_close(sym);
  free(b.p);
  snap_free(&s);
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
  if (sched_forked()) return sched_forked_refuse("grt_dump");
  /* From a signal handler the snapshot and the extcall it runs in would
   * switch stacks and take locks under the interrupted code. */
  if (stack_on_signal_stack()) {
    warn_line("grt: grt_dump called from a signal handler; refused");
    return -EDEADLK;
  }
  return run(fd, 2);
}

int goroutines_write(int fd, int debug) {
  if (sched_forked()) return sched_forked_refuse("the goroutine profile");
  if (debug < 0) return -EINVAL;
  return run(fd, debug > 2 ? 2 : debug);
}
