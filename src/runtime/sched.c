/*
 * sched.c - the G/M/P scheduler.  docs/design.md is the long version; in
 * short, after Go's proc.go:
 *
 *   A G is a goroutine, an M an OS thread, a P the right to run Gs.  An M
 *   runs Gs only while it holds a P.  Each P has a lock-free run queue
 *   (owner pushes at the tail, owner and thieves take from the head with a
 *   CAS) and a runnext slot; overflow and foreign-thread wakeups go to the
 *   global queue under sched.lock.
 *
 *   schedule() runs on g0 and looks for work in this order: runnext and the
 *   local queue (the global queue first on every 61st tick, for fairness),
 *   the global queue, due timers on every P, then stealing half of another
 *   P's queue.  An M that finds nothing releases its P and sleeps on its
 *   note until the earliest timer on any P.
 *
 *   Spinning Ms: at most half of the busy Ps have an M spinning (looking for
 *   work with a P).  Whoever makes a G runnable calls wakep(), which starts
 *   a spinning M only if there is an idle P and no M is spinning yet.  A
 *   spinning M that finds work wakes another if it was the last spinner,
 *   and one that gives up rechecks every queue after it stops counting
 *   itself as spinning.  Together these mean work is never stranded while a
 *   P sleeps, without a thundering herd of wakeups.
 *
 *   Scheduling is cooperative: a G runs until it parks, yields or exits.
 *
 * Locks: sched.lock protects the idle M/P lists and the global queues, a
 * P's timerlock its timer heap; neither is held across a switch.  Where
 * both are held, the timerlock is taken first.  Channel, mutex and netpoll
 * locks never nest with either: sched_ready takes sched.lock only after the
 * waker has released its own lock.
 *
 * Layering: the runtime calls nothing above it.  The profiler's per-M
 * timers and the label references it keeps are reached through the hooks
 * that grt_main registers (sched_set_hooks); grt_main itself, and every
 * GRT_* variable, live in src/top/.
 */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include "base/elfnote.h"
#include "base/fiber.h"
#include "base/unwind.h"

#include <dlfcn.h>
#include <linux/membarrier.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(offsetof(struct g, ctx) == 0, "ctx first in g");
/* The context is one line on x86-64 (64 bytes), 168 bytes on aarch64
 * (d8..d15 too): the fields after it share the next 64-byte line. */
_Static_assert(offsetof(struct g, id) >= 64 &&
                   offsetof(struct g, id) / 64 == (offsetof(struct g, wall_sample) + 3) / 64,
               "what a walk of allg reads of a parked G shares one cache line");
_Static_assert(offsetof(struct g, m) == G_M, "g->m offset");
_Static_assert(offsetof(struct m, g0) == M_G0, "m->g0 offset");
_Static_assert(offsetof(struct m, trans) == M_TRANS, "m->trans offset");
_Static_assert(offsetof(struct transition, sp) == TRANS_SP, "transition layout");
_Static_assert(offsetof(struct transition, pc) == TRANS_PC, "transition layout");
_Static_assert(offsetof(struct transition, fp) == TRANS_FP, "transition layout");
_Static_assert(offsetof(struct transition, cfa) == TRANS_CFA, "transition layout");

__thread struct g *grt_tls_g __attribute__((tls_model("initial-exec"), visibility("hidden")));
/* errno's location, through a pointer the compiler must reload (runtime.h). */
__attribute__((visibility("hidden"))) int *(*volatile rt_errno_location)(void) = __errno_location;

#define GFREE_LOCAL_MAX 64
#define SCAVENGE_TIMER_SLACK_NS 5000000 /* no stack release this close to a timer */
#define GFREE_KEEP_RESIDENT 1024        /* free stacks kept resident; idle Ms release the rest */
#define GFREE_KEEP_RELEASED 4096        /* more with released stacks; idle Ms free the rest */
#define GFREE_TRIM_RETRY_NS 10000000    /* a dump walks allg: look again this much later */
#define SCAVENGE_DELAY_NS (100 * 1000 * 1000)

/* A FIFO of Gs linked by schedlink (under sched.lock; size is read
 * without it). */
struct gqueue {
  struct g *head, *tail;
  _Atomic int32_t size;
};

static void gqueue_put_batch(struct gqueue *q, struct g *head, struct g *tail, int n) {
  tail->schedlink = NULL;
  if (q->tail)
    q->tail->schedlink = head;
  else
    q->head = head;
  q->tail = tail;
  atomic_fetch_add(&q->size, n);
}

static struct g *gqueue_pop(struct gqueue *q) {
  struct g *gp = q->head;
  if (!gp) return NULL;
  q->head = gp->schedlink;
  if (!q->head) q->tail = NULL;
  atomic_fetch_sub(&q->size, 1);
  return gp;
}

static struct {
  rt_lock lock;
  struct gqueue runq; /* the global run queue */
  /* Callbacks from foreign threads waiting for a P, apart from the run
   * queue, so that neither kind of work waits behind a crowd of the other:
   * Ps serve them in turn (findrunnable, sched_drop_p). */
  struct gqueue cbq;
  struct m *midle; /* idle Ms */
  struct p *pidle; /* idle Ps */
  _Atomic int32_t npidle;
  _Atomic int32_t nmspinning;
  _Atomic int64_t poll_until;   /* earliest deadline an idle M sleeps to; 0: none */
  _Atomic int poller_blocked;   /* an idle M waits in netpoll (epoll_wait) */
  _Atomic int64_t poller_until; /* ... until this deadline; 0: none */
  struct g *gfree;              /* dead Gs with default stacks, memory resident */
  int32_t ngfree;
  struct g *gfree_released; /* dead Gs whose stack memory went back to the kernel */
  int32_t ngfree_released;
  int64_t gfree_excess_since; /* when ngfree last rose above the resident budget; 0: not above */
  struct m *allm;
  struct g *allg;
  /* Every G on allg, also as an array (Go's allgs), for walks that must
   * not chase a pointer per G (the wall profile): readers take the
   * published array and count, with allg_readers raised as for allg.  A
   * G taken off allg is swapped with the last; a reader may then count the
   * last one twice or miss it, once.  Old arrays stay allocated (a reader
   * may hold one): all of them together are smaller than the current. */
  struct g **_Atomic allgs;
  _Atomic size_t nallgs;
  size_t allgs_cap;
  int32_t mcount;  /* Ms allocated (and the next M's id) */
  struct m *mfree; /* Ms whose thread could not be created, for reuse */
  int32_t nmfree;
  _Atomic int32_t allg_readers; /* walks of allg under way (sched_allg) */
  struct g *glimbo, *gdead;     /* Gs off allg, to be freed (free_gs) */
  int nprocs;
  struct p **allp;
  struct m *m0;
  _Atomic uint64_t goidgen;
  _Atomic uint64_t created_without_p; /* goroutines started from foreign threads */
  _Atomic uint64_t callback_gs_live;  /* Gs of callbacks from foreign threads */
  struct m *_Atomic extra_pool;       /* extra Ms not bound to a thread */
  _Atomic uint64_t extra_count;       /* extra Ms ever created */
  _Atomic int started;
  struct sched_hooks hooks;
  /* Handing off stuck Ps (sysmon). */
  long max_threads;
  int64_t handoff_ns;
  bool debug_hogs;
  size_t main_stack;
  sigset_t sigmask;           /* every new M's: grt_main's caller's, less grt's own signals */
  bool can_handoff;           /* membarrier(PRIVATE_EXPEDITED) is available */
  _Atomic int64_t coarse_now; /* sched_coarse_now: set by sysmon, and by its wakers */
  _Atomic uint64_t handoffs;  /* Ps taken from goroutines that held them too long */
  _Atomic int64_t running_without_p; /* handed-off goroutines not yet back to a P */
  int (*main_fn)(int, char **);
  int main_argc;
  char **main_argv;
} sched;

static void schedule(void) __attribute__((noreturn));
static void hog_signal_install(void);
static _Atomic int sysmon_sleeping;
static struct note sysmon_note;
static void wait_for_handed_p(struct m *mp);
static int64_t scavenge_stacks(void);
void sched_gostart(struct g *gp) __attribute__((noreturn, used));

/* ---- ASan fiber annotations (base/fiber.h) for switches to and from G's
 * stacks. */
static inline void asan_switch_begin(void **fake_save, const struct g *to) {
  fiber_begin(fake_save, to->stack_lo, to->stack_hi);
}

/* ---- hooks into the layers above ---------------------------------------- */

void sched_set_hooks(const struct sched_hooks *h) {
  sched.hooks = *h;
}

_Atomic uint32_t sched_contention_watch;

void sched_mutex_handoff(int64_t ns) {
  if (sched.hooks.mutex_handoff) sched.hooks.mutex_handoff(ns);
  KEEP_FRAME(); /* not a tail call: the profile skips exactly this frame */
}

void sched_m_started(struct m *mp) {
  if (sched.hooks.m_started) sched.hooks.m_started(mp);
}

void sched_labels_retain(grt_labels *l) {
  if (l && sched.hooks.labels_retain) sched.hooks.labels_retain(l);
}

void sched_labels_release(grt_labels *l) {
  if (l && sched.hooks.labels_release) sched.hooks.labels_release(l);
}

/* ---- tracebacks for fatal errors ----------------------------------------
 *
 * Each frame is printed as "  fn+0x12 (/path/module+0x1234)": the symbol
 * dladdr finds (exported ones only, so static functions show as "?"), and
 * always the module and the pc's address in it (pc minus the load bias, as
 * addr2line -e module takes it).  Then, once per module, its GNU build ID,
 * so a report can be symbolized after the process is gone.  Runs in the
 * SIGSEGV handler on the signal stack: no malloc (dladdr and
 * dl_iterate_phdr take the loader's lock, as before). */

#define PRINT_MODULES 8 /* a report of at most 64 frames rarely spans more */

struct frame_printer {
  int fd, depth;
  size_t nmods; /* modules seen, for the build-ID lines */
  struct elfnote_module mods[PRINT_MODULES];
  bool more_mods; /* some did not fit */
  char exe[256];  /* the main program's path ("" until needed) */
};

static void print_str(struct frame_printer *fp, const char *s, int n) {
  if (n > 0 && write(fp->fd, s, (size_t)n) < 0) fp->depth = 64;
}

/* The module's path as printed: the main program's is "" to the loader. */
static const char *module_path(struct frame_printer *fp, const struct elfnote_module *m) {
  if (m->path[0]) return m->path;
  if (!fp->exe[0]) {
    ssize_t n = readlink("/proc/self/exe", fp->exe, sizeof fp->exe - 1);
    if (n <= 0) n = snprintf(fp->exe, sizeof fp->exe, "(main program)");
    fp->exe[n < (ssize_t)sizeof fp->exe ? n : (ssize_t)sizeof fp->exe - 1] = 0;
  }
  return fp->exe;
}

static void print_pc(struct frame_printer *fp, uintptr_t pc) {
  char line[512], sym[160];
  Dl_info info;
  if (dladdr((void *)pc, &info) && info.dli_sname) {
    uintptr_t off = pc - (uintptr_t)info.dli_saddr;
    if (off)
      snprintf(sym, sizeof sym, "%s+0x%lx", info.dli_sname, (unsigned long)off);
    else
      snprintf(sym, sizeof sym, "%s", info.dli_sname);
  } else {
    snprintf(sym, sizeof sym, "? "); /* two blanks before the module: "?  (" */
  }
  struct elfnote_module m;
  int n;
  if (elfnote_module_of(pc, &m)) {
    size_t i = 0;
    while (i < fp->nmods && fp->mods[i].id != m.id)
      i++;
    if (i == fp->nmods) {
      if (fp->nmods < PRINT_MODULES)
        fp->mods[fp->nmods++] = m;
      else
        fp->more_mods = true;
    }
    n = snprintf(line, sizeof line, "  %s (%s+0x%lx)\n", sym, module_path(fp, &m),
                 (unsigned long)(pc - m.bias));
  } else {
    n = snprintf(line, sizeof line, "  %s (pc=%#lx, in no module)\n", sym, (unsigned long)pc);
  }
  print_str(fp, line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

static bool print_ret(void *out, uintptr_t ret) {
  struct frame_printer *fp = out;
  if (++fp->depth >= 64) return false;
  print_pc(fp, ret);
  return true;
}

/* "build ID of <path>: <hex>" for each module the frames named. */
static void print_build_ids(struct frame_printer *fp) {
  for (size_t i = 0; i < fp->nmods; i++) {
    const struct elfnote_module *m = &fp->mods[i];
    char line[512], hex[2 * ELFNOTE_BUILD_ID_MAX + 1];
    for (size_t k = 0; k < m->build_id_len; k++) {
      hex[2 * k] = "0123456789abcdef"[m->build_id[k] >> 4];
      hex[2 * k + 1] = "0123456789abcdef"[m->build_id[k] & 15];
    }
    hex[2 * m->build_id_len] = 0;
    int n = snprintf(line, sizeof line, "  build ID of %s: %s\n", module_path(fp, m),
                     m->build_id_len ? hex : "none");
    print_str(fp, line, n < (int)sizeof line ? n : (int)sizeof line - 1);
  }
  if (fp->more_mods) print_str(fp, "  (more modules, not listed)\n", 29);
}

/* pcs[0..n) as frames, then the build IDs (the GRT_DEBUG=hogs report). */
static void print_pcs(int fd, const uintptr_t *pcs, int n) {
  struct frame_printer pr = {.fd = fd};
  for (int i = 0; i < n; i++)
    print_pc(&pr, pcs[i]);
  print_build_ids(&pr);
}

void sched_print_frames(int fd, uintptr_t pc, bool leaf, uintptr_t fp, uintptr_t sp, uintptr_t lr,
                        uintptr_t lo, uintptr_t hi) {
  struct frame_printer pr = {.fd = fd};
  if (pc == 0) return;
  print_pc(&pr, pc);
  unw_walk((struct unw_regs){pc, sp, fp, lr}, leaf, lo, hi, unw_read_direct, NULL, print_ret, &pr,
           NULL);
  print_build_ids(&pr);
}

/* warn_fatal's traceback: the current goroutine (or g0) and its frames. */
static void print_traceback(void) {
  struct g *g = getg();
  if (!g) return;
  struct g *cur = getcurg();
  warn_line("\n%s %llu [running]:", cur ? "goroutine" : "runtime (g0 of M)",
            (unsigned long long)(cur ? cur->id : (g->m ? (unsigned)g->m->id : 0)));
  /* This frame has a frame pointer (it takes its address): its caller's
   * registers are in the frame record, and its CFA is the caller's SP
   * after the return (fp + 16 on x86-64; on aarch64 the record is at the
   * frame's bottom, so only the CFA says). */
  uintptr_t *fp = __builtin_frame_address(0);
  sched_print_frames(2, arch_strip_ra(fp[1]), false, fp[0], (uintptr_t)__builtin_dwarf_cfa(), 0,
                     g->stack_lo, g->stack_hi);
}

/* ---- G, P bookkeeping ----------------------------------------------------- */

static struct p *currentp(void) {
  struct m *mp = getm();
  return mp ? mp->p : NULL;
}

/* Bumps a per-P statistic.  Only the P's owner writes it, so a plain
 * load and store do (no locked instruction on the switch path); readers
 * load it atomically. */
static inline void p_count(_Atomic uint64_t *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static uint64_t next_goid(struct p *pp) {
  if (pp->goidcache == pp->goidcacheend) {
    pp->goidcache = atomic_fetch_add(&sched.goidgen, 16);
    pp->goidcacheend = pp->goidcache + 16;
  }
  return ++pp->goidcache;
}

/* ---- run queues: Go's runqput / runqget / runqsteal ------------------------ */

static bool runq_empty(struct p *pp) {
  for (;;) {
    uint32_t head = atomic_load(&pp->runqhead);
    uint32_t tail = atomic_load(&pp->runqtail);
    struct g *next = atomic_load(&pp->runnext);
    if (tail == atomic_load(&pp->runqtail)) return head == tail && next == NULL;
  }
}

static void globrunq_put_batch(struct g *head, struct g *tail, int n) {
  gqueue_put_batch(&sched.runq, head, tail, n);
}

static void cbq_put(struct g *gp) {
  gqueue_put_batch(&sched.cbq, gp, gp, 1);
}

static struct g *cbq_get(void) {
  return gqueue_pop(&sched.cbq);
}

/* The next callback waiting for a P, to run on pp (its turn taken), or NULL. */
static struct g *cbq_take(struct p *pp) {
  rt_lock_acquire(&sched.lock);
  struct g *gp = cbq_get();
  rt_lock_release(&sched.lock);
  if (gp) pp->cbtick = pp->schedtick;
  return gp;
}

/* Is anything waiting for a P in the global queues? */
static inline bool global_work(void) {
  return atomic_load(&sched.runq.size) > 0 || atomic_load(&sched.cbq.size) > 0;
}

/* Moves half the local queue and gp to the global queue (local queue full). */
static bool runq_put_slow(struct p *pp, struct g *gp, uint32_t head, uint32_t tail) {
  struct g *batch[RUNQ_SIZE / 2 + 1];
  uint32_t n = (tail - head) / 2;
  for (uint32_t i = 0; i < n; i++)
    batch[i] = atomic_load_explicit(&pp->runq[(head + i) % RUNQ_SIZE], memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&pp->runqhead, &head, head + n, memory_order_release,
                                               memory_order_relaxed))
    return false;
  batch[n] = gp;
  for (uint32_t i = 0; i < n; i++)
    batch[i]->schedlink = batch[i + 1];
  rt_lock_acquire(&sched.lock);
  globrunq_put_batch(batch[0], batch[n], (int)n + 1);
  rt_lock_release(&sched.lock);
  return true;
}

static void runq_put_tail(struct p *pp, struct g *gp);

/* Puts gp on pp's queue; with next, in runnext (kicking the old one out). */
static inline void runq_put(struct p *pp, struct g *gp, bool next) {
  if (next) {
    /* Only pp's own M fills its runnext, and thieves only empty it: when
     * it is empty, it stays so but for us, and a store does (as the tail
     * below, it publishes gp with release order). */
    struct g *old = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (old == NULL) {
      atomic_store_explicit(&pp->runnext, gp, memory_order_release);
      return;
    }
    old = atomic_exchange(&pp->runnext, gp);
    if (old == NULL) return;
    gp = old;
  }
  runq_put_tail(pp, gp);
}

/* Puts gp at the tail of pp's queue. */
static void runq_put_tail(struct p *pp, struct g *gp) {
  for (;;) {
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    if (tail - head < RUNQ_SIZE) {
      atomic_store_explicit(&pp->runq[tail % RUNQ_SIZE], gp, memory_order_relaxed);
      atomic_store_explicit(&pp->runqtail, tail + 1, memory_order_release);
      return;
    }
    if (runq_put_slow(pp, gp, head, tail)) return;
  }
}

/* The head of pp's queue, leaving runnext alone. */
static inline struct g *runq_get_head(struct p *pp) {
  for (;;) {
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    if (tail == head) return NULL;
    struct g *gp = atomic_load_explicit(&pp->runq[head % RUNQ_SIZE], memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + 1, memory_order_release,
                                              memory_order_relaxed))
      return gp;
  }
}

static struct g *runq_get(struct p *pp) {
  struct g *next = atomic_load(&pp->runnext);
  if (next && atomic_compare_exchange_strong(&pp->runnext, &next, NULL)) return next;
  return runq_get_head(pp);
}

/* Steals half of victim's queue into pp's; returns one G to run. */
static struct g *runq_steal(struct p *pp, struct p *victim, bool take_runnext) {
  uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
  uint32_t n;
  for (;;) {
    uint32_t h = atomic_load_explicit(&victim->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&victim->runqtail, memory_order_acquire);
    n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (!take_runnext) return NULL;
      struct g *next = atomic_load(&victim->runnext);
      if (next && atomic_compare_exchange_strong(&victim->runnext, &next, NULL)) return next;
      return NULL;
    }
    if (n > RUNQ_SIZE / 2) continue; /* inconsistent h and t: retry */
    for (uint32_t i = 0; i < n; i++) {
      struct g *gp = atomic_load_explicit(&victim->runq[(h + i) % RUNQ_SIZE], memory_order_relaxed);
      atomic_store_explicit(&pp->runq[(tail + i) % RUNQ_SIZE], gp, memory_order_relaxed);
    }
    if (atomic_compare_exchange_strong_explicit(&victim->runqhead, &h, h + n, memory_order_release,
                                                memory_order_relaxed))
      break;
  }
  n--;
  struct g *gp = atomic_load_explicit(&pp->runq[(tail + n) % RUNQ_SIZE], memory_order_relaxed);
  if (n > 0) atomic_store_explicit(&pp->runqtail, tail + n, memory_order_release);
  return gp;
}

/* Takes a batch from the global queue (sched.lock held): one to run, and up
 * to a fair share into pp's local queue. */
static struct g *globrunq_get(struct p *pp, int max) {
  int32_t size = atomic_load(&sched.runq.size);
  if (size == 0) return NULL;
  int n = size / sched.nprocs + 1;
  if (n > size) n = size;
  if (max > 0 && n > max) n = max;
  /* Only what fits: a full local queue would spill back to the global
   * one, which takes sched.lock, held here. */
  uint32_t used = atomic_load(&pp->runqtail) - atomic_load(&pp->runqhead);
  int room = (int)(RUNQ_SIZE - used) + 1; /* +1: the G returned */
  if (n > room) n = room;
  if (n > RUNQ_SIZE / 2) n = RUNQ_SIZE / 2;
  struct g *gp = gqueue_pop(&sched.runq);
  for (int i = 1; i < n; i++)
    runq_put(pp, gqueue_pop(&sched.runq), false);
  return gp;
}

/* ---- idle Ms and Ps (sched.lock held) ----------------------------------- */

static void pidle_put(struct p *pp) {
  pp->m = NULL;
  atomic_store(&pp->status, P_IDLE);
  pp->link = sched.pidle;
  sched.pidle = pp;
  atomic_fetch_add(&sched.npidle, 1);
}

static struct p *pidle_get(void) {
  struct p *pp = sched.pidle;
  if (pp) {
    sched.pidle = pp->link;
    atomic_fetch_sub(&sched.npidle, 1);
  }
  return pp;
}

static void midle_put(struct m *mp) {
  mp->schedlink = sched.midle;
  sched.midle = mp;
  mp->idle = true;
}

static struct m *midle_get(void) {
  struct m *mp = sched.midle;
  if (mp) {
    sched.midle = mp->schedlink;
    mp->idle = false;
  }
  return mp;
}

static void midle_remove(struct m *mp) {
  for (struct m **pm = &sched.midle; *pm; pm = &(*pm)->schedlink)
    if (*pm == mp) {
      *pm = mp->schedlink;
      mp->idle = false;
      return;
    }
}

static void sysmon_wake(void);

static void acquirep(struct m *mp, struct p *pp) {
  mp->p = pp;
  pp->m = mp;
  atomic_store_explicit(&pp->status, P_RUNNING, memory_order_relaxed);
  sysmon_wake(); /* it watches running Ps for ones that get stuck */
}

static struct p *releasep(struct m *mp) {
  struct p *pp = mp->p;
  mp->p = NULL;
  pp->m = NULL;
  return pp;
}

/* ---- Ms ----------------------------------------------------------------- */

static void *mstart(void *arg);

struct m *sched_allm(void) {
  rt_lock_acquire(&sched.lock);
  struct m *head = sched.allm;
  rt_lock_release(&sched.lock);
  return head;
}

struct g *sched_allg(void) {
  rt_lock_acquire(&sched.lock);
  atomic_fetch_add(&sched.allg_readers, 1); /* under the lock: free_gs checks it there */
  struct g *head = sched.allg;
  rt_lock_release(&sched.lock);
  return head;
}

void sched_allg_done(void) {
  atomic_fetch_sub(&sched.allg_readers, 1);
}

struct g *const *sched_allgs(size_t *n) {
  rt_lock_acquire(&sched.lock);
  atomic_fetch_add(&sched.allg_readers, 1);
  struct g *const *a = atomic_load_explicit(&sched.allgs, memory_order_relaxed);
  *n = atomic_load_explicit(&sched.nallgs, memory_order_relaxed);
  rt_lock_release(&sched.lock);
  return a;
}

static struct m *m_alloc(void) {
  /* First an M whose thread could not be created (it never ran). */
  rt_lock_acquire(&sched.lock);
  struct m *mp = sched.mfree;
  if (mp) {
    sched.mfree = mp->schedlink;
    sched.nmfree--;
    mp->schedlink = NULL;
  }
  rt_lock_release(&sched.lock);
  if (mp) return mp;
  mp = calloc(1, sizeof *mp);
  struct g *g0 = calloc(1, sizeof *g0);
  if (!mp || !g0) {
    free(mp);
    free(g0);
    return NULL;
  }
  g0->m = mp;
  g0->stack_kind = STACK_NONE;
  atomic_init(&mp->prof_ktimer, -1);
  atomic_init(&mp->prof_perf_fd, -1);
  atomic_init(&mp->in_runtime, 1); /* an M starts in the scheduler */
  mp->g0 = g0;
  rt_lock_acquire(&sched.lock);
  mp->id = sched.mcount++;
  mp->alllink = sched.allm;
  sched.allm = mp;
  rt_lock_release(&sched.lock);
  return mp;
}

/* Records the calling thread's own stack as g0's and the point mcall and
 * systemstack restart g0 from: just below the caller's frame.  Whatever was
 * below that point is dead by the time g0 is re-entered, since the
 * scheduler loop that runs there never returns. */
static void m_bind_thread(struct m *mp, uintptr_t g0_top) {
  pthread_attr_t attr;
  void *addr = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
  }
  mp->g0->stack_lo = (uintptr_t)addr;
  mp->g0->stack_hi = (uintptr_t)addr + size;
  mp->g0->ctx.sp = (g0_top - 256) & ~(uintptr_t)15;
  mp->tid = (pid_t)syscall(SYS_gettid);
  mp->rand = rt_fastrand() | 1;
  setg(mp->g0);
  stack_signal_thread(mp);
  sched_m_started(mp); /* its CPU timer, if a profile runs, before any goroutine */
}

/* Starts a new M that will run with pp (and spin for work if spinning). */
static bool m_new(struct p *pp, bool spinning) {
  if (sched_forked()) return false; /* no runtime in a forked child (fork.c) */
  struct m *mp = m_alloc();
  if (!mp) return false;
  mp->nextp = pp;
  mp->spinning = spinning;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the new M unblocks in mstart */
  int err = pthread_create(&th, &attr, mstart, mp);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  /* One line for a run of failures: the runtime goes on with the
   * threads it has, and tries again at the next wakeup. */
  static _Atomic bool failing;
  if (err != 0) {
    if (!atomic_exchange(&failing, true))
      warn_line("grt: cannot create thread: %s (said once until a thread starts again)",
                strerror(err));
    /* Never ran: not counted as a thread, and reused by the next m_new. */
    mp->nextp = NULL;
    mp->spinning = false;
    rt_lock_acquire(&sched.lock);
    mp->schedlink = sched.mfree;
    sched.mfree = mp;
    sched.nmfree++;
    rt_lock_release(&sched.lock);
    return false;
  }
  if (atomic_load_explicit(&failing, memory_order_relaxed)) atomic_store(&failing, false);
  return true;
}

static void *mstart(void *arg) {
  struct m *mp = arg;
  m_bind_thread(mp, (uintptr_t)__builtin_frame_address(0));
  /* The mask of the thread that called grt_main, less the signals grt
   * needs: a program that blocks SIGTERM in main and sigwaits for it in
   * one thread gets it there, as with plain pthreads. */
  pthread_sigmask(SIG_SETMASK, &sched.sigmask, NULL);
  acquirep(mp, mp->nextp);
  mp->nextp = NULL;
  schedule();
}

/* Gives pp to an idle M (or a new one).  With pp NULL, takes an idle P; if
 * there is none, undoes the caller's nmspinning increment. */
static void startm(struct p *pp, bool spinning) {
  rt_lock_acquire(&sched.lock);
  if (!pp) {
    pp = pidle_get();
    if (!pp) {
      rt_lock_release(&sched.lock);
      if (spinning) atomic_fetch_sub(&sched.nmspinning, 1);
      return;
    }
  }
  struct m *mp = midle_get();
  if (mp) {
    mp->spinning = spinning;
    mp->nextp = pp;
    rt_lock_release(&sched.lock);
    note_wakeup(&mp->park);
    return;
  }
  rt_lock_release(&sched.lock);
  if (!m_new(pp, spinning)) {
    rt_lock_acquire(&sched.lock);
    pidle_put(pp);
    rt_lock_release(&sched.lock);
    if (spinning) atomic_fetch_sub(&sched.nmspinning, 1);
  }
}

static void wakep_idle(void);

/* Called when a G becomes runnable: make sure some M will look for it. */
static inline void wakep(void) {
  if (atomic_load(&sched.npidle) == 0) return;
  wakep_idle();
}

static void wakep_idle(void) {
  int32_t zero = 0;
  if (atomic_load(&sched.nmspinning) != 0 ||
      !atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1))
    return;
  startm(NULL, true);
}

/* Hands off pp from an M that is about to block (a wired G parked). */
static void handoffp(struct p *pp) {
  if (!runq_empty(pp) || global_work()) {
    startm(pp, false);
    return;
  }
  int32_t zero = 0;
  if (atomic_load(&sched.nmspinning) == 0 &&
      atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1)) {
    startm(pp, true);
    return;
  }
  rt_lock_acquire(&sched.lock);
  /* Again under the lock: a callback that found no idle P queues its G
   * under this lock, so either it sees this P idle or we see its G. */
  if (global_work()) {
    rt_lock_release(&sched.lock);
    startm(pp, false);
    return;
  }
  pidle_put(pp);
  rt_lock_release(&sched.lock);
  if (atomic_load(&pp->timer0when) != 0) wakep();
}

/* Sleeps the M until it is handed a P (returned) or the deadline passes or
 * a timer kick arrives (NULL).  Called with sched.lock held and mp on the
 * idle list; returns with the lock released. */
static struct p *m_sleep(struct m *mp, int64_t deadline) {
  if (deadline) {
    int64_t cur = atomic_load(&sched.poll_until);
    while ((cur == 0 || deadline < cur) &&
           !atomic_compare_exchange_weak(&sched.poll_until, &cur, deadline))
      ;
  }
  rt_lock_release(&sched.lock);
  note_sleep(&mp->park, deadline);
  note_clear(&mp->park);
  rt_lock_acquire(&sched.lock);
  if (mp->idle) midle_remove(mp);
  struct p *pp = mp->nextp;
  mp->nextp = NULL;
  if (!pp && deadline) atomic_store(&sched.poll_until, 0); /* the sleeper recomputes */
  rt_lock_release(&sched.lock);
  return pp;
}

/* A timer was added at `when`: wake an idle M if no sleeper wakes by then. */
static void on_timer_added(int64_t when) {
  if (atomic_load(&sched.poller_blocked)) {
    int64_t until = atomic_load(&sched.poller_until);
    if (until == 0 || when < until) netpoll_break(); /* it polls until too late */
  }
  if (atomic_load(&sched.npidle) == 0) return; /* every P is busy and will see it */
  int64_t pu = atomic_load(&sched.poll_until);
  if (pu != 0 && pu <= when) return;
  rt_lock_acquire(&sched.lock);
  struct m *mp = sched.midle;
  rt_lock_release(&sched.lock);
  if (mp)
    note_wakeup(&mp->park);
  else
    wakep();
}
void sched_timer_added(int64_t when) {
  on_timer_added(when);
}

/* ---- finding work --------------------------------------------------------- */

/* Makes netpoll's Gs runnable: the first is returned to run, the rest go
 * on pp's queue. */
static struct g *netpoll_inject(struct p *pp, struct g *list) {
  struct g *first = list;
  list = list->schedlink;
  atomic_store_explicit(&first->status, G_RUNNABLE, memory_order_relaxed);
  bool more = list != NULL;
  while (list) {
    struct g *gp = list;
    list = gp->schedlink;
    atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
    runq_put(pp, gp, false);
  }
  if (more) wakep();
  return first;
}

/* Under sched.lock: netpoll's Gs onto the global queue. */
static void netpoll_to_global(struct g *list) {
  while (list) {
    struct g *gp = list;
    list = gp->schedlink;
    atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
    globrunq_put_batch(gp, gp, 1);
  }
}

/* The earliest timer deadline over all Ps, 0 if none (one load per P). */
static int64_t earliest_timer(void) {
  int64_t earliest = 0;
  for (int i = 0; i < sched.nprocs; i++) {
    int64_t w = atomic_load_explicit(&sched.allp[i]->timer0when, memory_order_acquire);
    if (w != 0 && (earliest == 0 || w < earliest)) earliest = w;
  }
  return earliest;
}

/* Runs due timers on every P, in deadline order across Ps (so that
 * sleepers due together wake in the order of their deadlines); returns the
 * earliest remaining deadline. */
static int64_t check_all_timers(int64_t *now) {
  for (;;) {
    struct p *first = NULL;
    int64_t first_when = 0, second_when = 0, earliest = 0;
    for (int i = 0; i < sched.nprocs; i++) {
      int64_t w = atomic_load_explicit(&sched.allp[i]->timer0when, memory_order_acquire);
      if (w == 0) continue;
      if (earliest == 0 || w < earliest) earliest = w;
      if (*now == 0) *now = nanotime();
      if (w > *now) continue;
      if (!first || w < first_when) {
        second_when = first_when;
        first = sched.allp[i];
        first_when = w;
      } else if (second_when == 0 || w < second_when) {
        second_when = w;
      }
    }
    if (!first) return earliest; /* nothing due: one pass (the switch path) */
    /* Its timers up to the next P's first due one, then look again. */
    timer_run(first, second_when ? second_when : *now);
  }
}

static struct g *steal_work(struct m *mp, struct p *pp) {
  for (int round = 0; round < 4; round++) {
    mp->rand = mp->rand * 6364136223846793005ULL + 1;
    uint32_t start = (uint32_t)(mp->rand >> 33);
    for (int i = 0; i < sched.nprocs; i++) {
      struct p *victim = sched.allp[(start + i) % sched.nprocs];
      if (victim == pp) continue;
      struct g *gp = runq_steal(pp, victim, round == 3);
      if (gp) return gp;
    }
  }
  return NULL;
}

static void reset_spinning(struct m *mp) {
  mp->spinning = false;
  if (atomic_fetch_sub(&sched.nmspinning, 1) == 1) wakep();
}

/* Returns a runnable G, sleeping if there is none.  On return mp holds a P. */
static struct g *findrunnable(struct m *mp) {
  struct g *gp;
top:;
  struct p *pp = mp->p;
  int64_t now = 0;
  int64_t next_timer = check_all_timers(&now);
  /* Callbacks waiting for a P take turns with the goroutines on this P:
   * one goroutine runs between two callbacks (cbtick is the schedtick of
   * the last callback served here; callbacks do not tick), so a callback
   * storm cannot starve the goroutines, nor the goroutines the callbacks. */
  if (atomic_load_explicit(&sched.cbq.size, memory_order_relaxed) > 0 &&
      pp->cbtick != pp->schedtick && (gp = cbq_take(pp)))
    return gp;
  if (pp->schedtick % 61 == 0 && atomic_load(&sched.runq.size) > 0) {
    rt_lock_acquire(&sched.lock);
    gp = globrunq_get(pp, 1);
    rt_lock_release(&sched.lock);
    if (gp) return gp;
  }
  /* Two goroutines handing off through runnext (a ping-pong over an
   * unbuffered channel) would run forever ahead of the local queue, since
   * nothing preempts them: now and then the queue's head goes first. */
  if (pp->schedtick % 61 == 31 && (gp = runq_get_head(pp))) return gp;
  if ((gp = runq_get(pp))) return gp;
  if (global_work()) {
    rt_lock_acquire(&sched.lock);
    gp = globrunq_get(pp, 0);
    rt_lock_release(&sched.lock);
    if (gp) return gp;
    if ((gp = cbq_take(pp))) return gp;
  }
  /* Goroutines waiting for I/O that became ready (unless an idle M is
   * blocked polling already: it will hand them out). */
  if (netpoll_waiting() && !atomic_load(&sched.poller_blocked)) {
    struct g *list;
    if (netpoll(0, &list) > 0) return netpoll_inject(pp, list);
  }
  int32_t busy = sched.nprocs - atomic_load(&sched.npidle);
  if (mp->spinning || 2 * atomic_load(&sched.nmspinning) < busy) {
    if (!mp->spinning) {
      mp->spinning = true;
      atomic_fetch_add(&sched.nmspinning, 1);
    }
    if ((gp = steal_work(mp, pp))) return gp;
  }

  /* Nothing: give up the P. */
  rt_lock_acquire(&sched.lock);
  if (global_work()) {
    gp = globrunq_get(pp, 0);
    if (!gp) {
      gp = cbq_get();
      pp->cbtick = pp->schedtick;
    }
    rt_lock_release(&sched.lock);
    return gp;
  }
  releasep(mp);
  pidle_put(pp);
  rt_lock_release(&sched.lock);

  /* Having stopped spinning, look once more: a G readied while we still
   * counted as spinning did not wake anyone. */
  if (mp->spinning) {
    mp->spinning = false;
    atomic_fetch_sub(&sched.nmspinning, 1);
    for (int i = 0; i < sched.nprocs; i++) {
      if (!runq_empty(sched.allp[i]) || global_work()) {
        rt_lock_acquire(&sched.lock);
        struct p *p2 = pidle_get();
        rt_lock_release(&sched.lock);
        if (p2) {
          acquirep(mp, p2);
          mp->spinning = true;
          atomic_fetch_add(&sched.nmspinning, 1);
          goto top;
        }
        break;
      }
    }
  }

  for (;;) {
    /* Not when a timer is about to fall due: a batch of madvise takes
     * milliseconds, and the sleeper would wait for it. */
    int64_t soonest = earliest_timer();
    int64_t scavenge_at = 0;
    if (soonest == 0 || soonest - nanotime() > SCAVENGE_TIMER_SLACK_NS)
      scavenge_at = scavenge_stacks();
    else
      scavenge_at = soonest + SCAVENGE_TIMER_SLACK_NS; /* try again after it */
    rt_lock_acquire(&sched.lock);
    /* Computed under the lock, before joining the idle list: a timer added
     * from now on sees this M in on_timer_added and kicks it. */
    next_timer = earliest_timer();
    if (next_timer && next_timer <= nanotime()) {
      /* Overdue: run it ourselves if a P is free.  If not, every P is
       * busy and its M runs due timers at its next schedule, so sleep
       * until handed a P rather than spin on a past deadline. */
      struct p *p2 = pidle_get();
      if (p2) {
        rt_lock_release(&sched.lock);
        acquirep(mp, p2);
        goto top;
      }
      next_timer = 0;
    }
    if (scavenge_at && (next_timer == 0 || scavenge_at < next_timer)) next_timer = scavenge_at;
    /* Goroutines wait for I/O and nobody polls: this M does, until the
     * next deadline (Go's findrunnable).  It is not on the idle list;
     * new work starts another M, and an earlier timer breaks the poll. */
    int zero = 0;
    if (netpoll_waiting() && atomic_compare_exchange_strong(&sched.poller_blocked, &zero, 1)) {
      rt_lock_release(&sched.lock);
      atomic_store(&sched.poller_until, next_timer);
      int64_t timeout = -1;
      if (next_timer) {
        timeout = next_timer - nanotime();
        if (timeout < 0) timeout = 0;
      }
      struct g *list;
      int n = netpoll(timeout, &list);
      atomic_store(&sched.poller_blocked, 0);
      if (n > 0) {
        rt_lock_acquire(&sched.lock);
        struct p *p2 = pidle_get();
        if (!p2) { /* every P is busy: they take these from the global queue */
          netpoll_to_global(list);
          rt_lock_release(&sched.lock);
          continue;
        }
        rt_lock_release(&sched.lock);
        acquirep(mp, p2);
        return netpoll_inject(p2, list);
      }
      continue; /* a deadline, or a break: look again */
    }
    midle_put(mp);
    struct p *p2 = m_sleep(mp, next_timer);
    if (p2) {
      acquirep(mp, p2);
      goto top;
    }
    /* Timed out or kicked by a new timer: run timers if we can get a P. */
    rt_lock_acquire(&sched.lock);
    p2 = pidle_get();
    rt_lock_release(&sched.lock);
    if (p2) {
      acquirep(mp, p2);
      goto top;
    }
  }
}

/* ---- running Gs ----------------------------------------------------------- */

/* snapshot.c's seqlock: a dump that reads a G's stack while the count stays
 * put saw no switch in or out.  Only the M that owns gp writes it; the
 * fence keeps the G's stack writes after it (and, in drop_g, the saved
 * context before it: the store is a release). */
static inline void g_count_switch(struct g *gp) {
  atomic_store_explicit(&gp->switches,
                        atomic_load_explicit(&gp->switches, memory_order_relaxed) + 1,
                        memory_order_release);
  atomic_thread_fence(memory_order_release);
}

/* gp is about to run on mp (execute, and sched_park's direct switch).
 * Order for the profiler: m->curg and gp->m are set before the switch
 * writes TLS g, so whenever TLS g == gp, gp == m->curg. */
static inline void g_start(struct m *mp, struct g *gp) {
  struct p *pp = mp->p;
  gp->m = mp;
  mp->curg = gp;
  atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
  __atomic_store_n(&pp->schedtick, pp->schedtick + 1, __ATOMIC_RELAXED); /* sysmon reads it */
  p_count(&pp->ran);
  g_count_switch(gp);
}

/* Last, after every use of the P: from here sysmon may take the P if gp
 * resumes straight into its own code (resume_mark 0). */
static inline void g_set_resume_mark(struct m *mp, struct g *gp) {
  uint32_t mark = gp->resume_mark;
  gp->resume_mark = 1;
  atomic_signal_fence(memory_order_seq_cst);
  atomic_store_explicit(&mp->in_runtime, mark, memory_order_relaxed);
}

static void execute(struct m *mp, struct g *gp) __attribute__((noreturn));
static void execute(struct m *mp, struct g *gp) {
  g_start(mp, gp);
  asan_switch_begin(&mp->asan_fake_g0, gp);
  g_set_resume_mark(mp, gp);
  sched_gogo(gp);
  __builtin_unreachable();
}

/* The locked M of a parked wired G sleeps until the G is runnable again and
 * someone hands it a P. */
static void stoplockedm(struct m *mp) {
  if (mp->p) handoffp(releasep(mp));
  wait_for_handed_p(mp);
}

/* Sleeps until another M hands this one a P through mp->nextp. */
static void wait_for_handed_p(struct m *mp) {
  for (;;) {
    rt_lock_acquire(&sched.lock);
    struct p *pp = mp->nextp;
    mp->nextp = NULL;
    rt_lock_release(&sched.lock);
    if (pp) {
      acquirep(mp, pp);
      return;
    }
    note_sleep(&mp->park, 0);
    note_clear(&mp->park);
  }
}

/* Sleeps on the idle M list until another M hands this one a P. */
static void stopm(struct m *mp) {
  for (;;) {
    rt_lock_acquire(&sched.lock);
    midle_put(mp);
    struct p *pp = m_sleep(mp, 0);
    if (pp) {
      acquirep(mp, pp);
      return;
    }
  }
}

/* Hands our P to gp's wired M and sleeps until given a P again. */
static void startlockedm(struct m *mp, struct g *gp) {
  struct m *locked = gp->lockedm;
  struct p *pp = releasep(mp);
  rt_lock_acquire(&sched.lock);
  locked->nextp = pp;
  rt_lock_release(&sched.lock);
  note_wakeup(&locked->park);
  stopm(mp);
}

static void schedule(void) {
  struct m *mp = getm();
  if (mp->lockedg) {
    stoplockedm(mp);
    execute(mp, mp->lockedg);
  }
  for (;;) {
    struct g *gp = findrunnable(mp);
    if (mp->spinning) reset_spinning(mp);
    if (gp->lockedm && gp->lockedm != mp) {
      startlockedm(mp, gp);
      continue;
    }
    execute(mp, gp);
  }
}

/* The first C frame of every goroutine (called from sched_goentry). */
void sched_gostart(struct g *gp) {
  fiber_end(NULL);
  atomic_signal_fence(memory_order_seq_cst);
  atomic_store_explicit(&gp->m->in_runtime, 0, memory_order_relaxed); /* its own code */
  gp->fn(gp->arg);
  grt_exit();
}

/* ---- park / ready ------------------------------------------------------- */

/* On g0, as a G switches out: a canary stack whose low bytes are no longer
 * zero was overrun, by gp's own frames or by those of any goroutine whose
 * frames reached into gp's stack from above (canary stacks lie side by
 * side).  Which one it was is not known, so the report does not name a
 * culprit: it names gp's stack, and prints gp's frames, walked from its
 * just-saved context. */
static inline void check_stack(struct g *gp) {
  if (__builtin_expect(gp->stack_kind == STACK_CANARY, 0) && !stack_canary_ok(gp)) {
    warn_line("stack overflow detected on goroutine %llu's stack (canary overwritten; the "
              "goroutine that overflowed is unknown: goroutine %llu, or another whose frames "
              "reached into this stack from above; stack [%#lx, %#lx)); goroutine %llu's frames:",
              (unsigned long long)gp->id, (unsigned long long)gp->id, (unsigned long)gp->stack_lo,
              (unsigned long)gp->stack_hi, (unsigned long long)gp->id);
    sched_print_frames(2, gp->ctx.pc, false, gp->ctx.fp, gp->ctx.sp, 0, gp->stack_lo, gp->stack_hi);
    abort();
  }
}

/* First thing on g0 after sched_mcall: tell ASan we arrived, check the
 * stack the G left, and detach the G from its M with its new status. */
static struct m *drop_g(struct g *gp, enum gstatus status) {
  struct m *mp = gp->m;
  fiber_end(mp->asan_fake_g0);
  check_stack(gp);
  g_count_switch(gp);
  atomic_store_explicit(&gp->status, status, memory_order_relaxed);
  gp->m = NULL;
  mp->curg = NULL;
  return mp;
}

static void park_m(struct g *gp) {
  /* From here a waker may ready gp and another M resume it: gp->m and
   * m->curg are cleared before the commit that lets wakers in. */
  struct m *mp = drop_g(gp, G_WAITING);
  bool (*commit)(struct g *, void *) = mp->waitcommit;
  if (commit) {
    mp->waitcommit = NULL;
    if (!commit(gp, mp->waitarg)) {
      atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
      execute(mp, gp);
    }
  }
  schedule();
}

/* ---- the direct switch: a park straight into runnext --------------------
 * A park whose P would run its runnext G next (a ping-pong over unbuffered
 * channels: each side readies the other, then parks) switches to that G
 * directly (sched_switch), without g0's schedule and findrunnable.  The
 * second half (park_switched) runs on the next G's stack, once the parked
 * G's stack is out of use, and does what park_m does on g0: detach the G,
 * then run the commit that lets its wakers in.
 *
 * findrunnable would pick runnext first except on the fairness ticks
 * (every 61st schedtick takes the global queue first, another the local
 * queue's head) when those queues hold a G, when a callback waits for a
 * P, and when a timer is due: those take the full path.  For timers, the
 * fast path compares every P's earliest deadline with sysmon's coarse
 * clock (a load, not a clock read), with PARK_TIMER_SLACK_NS to spare for
 * the clock's lag (sysmon refreshes it about every millisecond while a P
 * runs): a timer within that of its deadline sends every park through
 * findrunnable, which reads the clock.  So that a late sysmon cannot hold
 * a timer up for long, the global queue's tick also takes the full path
 * whenever any P has a timer. */
#define PARK_TIMER_SLACK_NS 2000000

/* Is a timer on any P due by horizon (INT64_MAX: is there any timer)? */
static inline bool timers_due_by(int64_t horizon) {
  for (int i = 0; i < sched.nprocs; i++) {
    int64_t w = atomic_load_explicit(&sched.allp[i]->timer0when, memory_order_relaxed);
    if (w != 0 && w <= horizon) return true;
  }
  return false;
}

/* The G a park can switch to directly, taken from runnext; NULL: go
 * through g0.  Only when the commit is an unlock (channels, mutexes, wait
 * groups...): it runs on the next G's stack, below where that G parked, so
 * it must need next to no stack (a sleep's commit may allocate).  Not for
 * a wired G or M (they hand Ps around: schedule), nor a G that has never
 * run (sched_switch resumes into a frame). */
static inline struct g *park_next(struct m *mp, bool (*commit)(struct g *, void *)) {
  struct p *pp = mp->p;
  if (commit != sched_unlock_commit || !pp || mp->lockedg) return NULL;
  if (atomic_load_explicit(&sched.cbq.size, memory_order_relaxed) > 0) return NULL;
  struct g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
  if (!next) return NULL;
  int64_t now = atomic_load_explicit(&sched.coarse_now, memory_order_relaxed);
  int64_t horizon = now ? now + PARK_TIMER_SLACK_NS : INT64_MAX; /* 0: sysmon not yet run */
  uint32_t tick = pp->schedtick % 61;
  if (tick == 0) { /* the global queue's turn; and every timer gets a look at the clock */
    if (atomic_load_explicit(&sched.runq.size, memory_order_relaxed) > 0) return NULL;
    horizon = INT64_MAX;
  } else if (tick == 31) { /* the local queue head's turn */
    if (atomic_load_explicit(&pp->runqhead, memory_order_relaxed) !=
        atomic_load_explicit(&pp->runqtail, memory_order_relaxed))
      return NULL;
  }
  if (timers_due_by(horizon)) return NULL;
  /* Ours once taken: thieves take runnext only by the same CAS, and only
   * from another P, so with one P a store does. */
  if (sched.nprocs == 1)
    atomic_store_explicit(&pp->runnext, NULL, memory_order_relaxed);
  else if (!atomic_compare_exchange_strong(&pp->runnext, &next, NULL))
    return NULL;
  if (next->lockedm || next->ctx.pc == (uintptr_t)sched_goentry) {
    atomic_store(&pp->runnext, next); /* only this P's M fills its runnext */
    return NULL;
  }
  return next;
}

/* On the next G's stack, called by sched_switch: park_m's work for gp,
 * whose commit is sched_unlock_commit (park_next). */
static void park_switched(struct g *gp) {
  struct m *mp = gp->m;
  check_stack(gp);
  g_count_switch(gp);
  atomic_store_explicit(&gp->status, G_WAITING, memory_order_relaxed);
  gp->m = NULL; /* before the commit: from there a waker may resume gp */
  mp->waitcommit = NULL;
  rt_lock_release(mp->waitarg);
  g_set_resume_mark(mp, mp->curg);
}

void sched_park(bool (*commit)(struct g *, void *), void *arg, const char *reason) {
  struct g *gp = getcurg();
  struct m *mp = gp->m;
  mp->waitcommit = commit;
  mp->waitarg = arg;
  gp->waitreason = reason;
  gp->waitsince = sched_coarse_now();
  /* The block profile: the park is timed, and reported from this
   * goroutine's own stack once it runs again.  (The mutex profile times
   * only grt_mutex's waits, in sync.c: other parks pay nothing for it.) */
  int64_t t0 = 0;
  if (atomic_load_explicit(&sched_contention_watch, memory_order_relaxed) & SCHED_WATCH_BLOCK)
    gp->blockstart = t0 = nanotime();
  struct g *next = park_next(mp, commit);
  if (next) {
    /* From here until the switch writes TLS g, m->curg is next, so this
     * thread's samples are row 7 of the decision table (grt._System). */
    g_start(mp, next);
    asan_switch_begin(&gp->asan_fake, next);
    sched_switch(gp, next, park_switched);
  } else {
    asan_switch_begin(&gp->asan_fake, mp->g0);
    sched_mcall(park_m);
  }
  fiber_end(gp->asan_fake);
  if (t0 && sched.hooks.blocked) sched.hooks.blocked(reason, nanotime() - t0);
  KEEP_FRAME();
}

bool sched_unlock_commit(struct g *gp, void *lock) {
  (void)gp;
  rt_lock_release(lock);
  return true;
}

static inline void ready(struct g *gp, bool next);

void sched_ready(struct g *gp) {
  ready(gp, true);
}

void sched_ready_next(struct g *gp, bool next) {
  ready(gp, next);
}

static void __attribute__((noreturn, cold, noinline)) ready_not_waiting(struct g *gp, uint32_t st) {
  char msg[96];
  snprintf(msg, sizeof msg, "sched_ready: goroutine %llu is not waiting (status %u)",
           (unsigned long long)gp->id, st);
  warn_fatal(msg);
}

static inline void ready(struct g *gp, bool next) {
  uint32_t st = atomic_load_explicit(&gp->status, memory_order_relaxed);
  if (st != G_WAITING) ready_not_waiting(gp, st);
  atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
  struct p *pp = currentp();
  if (pp) {
    runq_put(pp, gp, next);
  } else { /* a thread without a P: the global queue */
    /* No goroutine runs in a forked child (fork.c). */
    if (sched_forked()) return;
    rt_lock_acquire(&sched.lock);
    globrunq_put_batch(gp, gp, 1);
    rt_lock_release(&sched.lock);
  }
  wakep();
}

static void yield_m(struct g *gp) {
  struct m *mp = drop_g(gp, G_RUNNABLE);
  /* Behind everything local; an empty local queue means nobody else wants
   * this P, unless the global queue or other Ps do. */
  if (atomic_load(&sched.runq.size) > 0 && runq_empty(mp->p)) {
    rt_lock_acquire(&sched.lock);
    globrunq_put_batch(gp, gp, 1);
    rt_lock_release(&sched.lock);
  } else {
    runq_put(mp->p, gp, false);
  }
  schedule();
}

/* ---- creating and ending goroutines ---------------------------------------- */

/* Pops a dead G from the global lists (sched.lock held), resident first. */
static struct g *gfree_pop_global(void) {
  struct g *gp = sched.gfree;
  if (gp) {
    sched.gfree = gp->schedlink;
    if (--sched.ngfree <= GFREE_KEEP_RESIDENT) sched.gfree_excess_since = 0;
    return gp;
  }
  gp = sched.gfree_released;
  if (gp) {
    sched.gfree_released = gp->schedlink;
    sched.ngfree_released--;
  }
  return gp;
}

static struct g *gfget(struct p *pp) {
  if (!pp->gfree && (sched.gfree || sched.gfree_released)) {
    rt_lock_acquire(&sched.lock);
    while (pp->gfreecnt < GFREE_LOCAL_MAX / 2) {
      struct g *gp = gfree_pop_global();
      if (!gp) break;
      gp->schedlink = pp->gfree;
      pp->gfree = gp;
      pp->gfreecnt++;
    }
    rt_lock_release(&sched.lock);
  }
  struct g *gp = pp->gfree;
  if (gp) {
    pp->gfree = gp->schedlink;
    pp->gfreecnt--;
  }
  return gp;
}

/* Gives the memory of free stacks beyond GFREE_KEEP_RESIDENT back to the
 * kernel, once the excess has lasted SCAVENGE_DELAY_NS: a burst of
 * goroutines that is about to repeat keeps its stacks, as with Go's
 * background scavenger.  Runs only on an M about to sleep for lack of work
 * (each madvise costs a TLB shootdown on every CPU).  Returns when to try
 * again (now, when a batch was released and more remain), or 0 if there
 * is no excess. */
static int64_t release_stacks(void) {
  rt_lock_acquire(&sched.lock);
  int64_t since = sched.gfree_excess_since;
  rt_lock_release(&sched.lock);
  if (since == 0) return 0;
  int64_t now = nanotime();
  if (now - since < SCAVENGE_DELAY_NS) return since + SCAVENGE_DELAY_NS;
  /* One batch per call: between batches the M looks for work again, so a
   * big release (10^5 stacks take a second of madvise) does not hold up
   * timers that fall due meanwhile. */
  {
    uintptr_t ranges[64][2];
    struct g *batch = NULL;
    int n = 0;
    rt_lock_acquire(&sched.lock);
    while (n < 64 && sched.ngfree > GFREE_KEEP_RESIDENT) {
      struct g *gp = sched.gfree;
      sched.gfree = gp->schedlink;
      sched.ngfree--;
      ranges[n][0] = gp->stack_lo;
      ranges[n][1] = gp->stack_hi;
      n++;
      gp->schedlink = batch;
      batch = gp;
    }
    if (n == 0) sched.gfree_excess_since = 0;
    bool more = sched.ngfree > GFREE_KEEP_RESIDENT;
    rt_lock_release(&sched.lock);
    if (n == 0) return 0;
    stack_release_batch(ranges, n);
    rt_lock_acquire(&sched.lock);
    while (batch) {
      struct g *gp = batch;
      batch = gp->schedlink;
      gp->schedlink = sched.gfree_released;
      sched.gfree_released = gp;
      sched.ngfree_released++;
    }
    rt_lock_release(&sched.lock);
    return more ? nanotime() : 0;
  }
}

/* Frees Gs with released stacks beyond GFREE_KEEP_RELEASED, stack and G
 * record both (a million goroutines leave 280 MB of records otherwise, as
 * Go's never-freed Gs do).  Dumps walk allg without locks (sched_allg), so
 * a G goes in three steps, each under sched.lock:
 *   1. off allg, into limbo: a walk under way may stand on it, but it only
 *      reads its links, which no longer change;
 *   2. the whole limbo to gdead, at a moment when no walk is under way: no
 *      walk can reach those Gs any more;
 *   3. off gdead, to be freed.
 * 64 Gs a step per call; returns when to call again, 0 when done. */
static int64_t free_gs(void) {
  if (__atomic_load_n(&sched.ngfree_released, __ATOMIC_RELAXED) <= GFREE_KEEP_RELEASED &&
      !__atomic_load_n(&sched.glimbo, __ATOMIC_RELAXED) &&
      !__atomic_load_n(&sched.gdead, __ATOMIC_RELAXED))
    return 0;
  rt_lock_acquire(&sched.lock);
  for (int n = 0; n < 64 && sched.ngfree_released > GFREE_KEEP_RELEASED; n++) {
    struct g *gp = sched.gfree_released;
    sched.gfree_released = gp->schedlink;
    sched.ngfree_released--;
    struct g *prev = gp->allprev, *next = gp->alllink;
    __atomic_store_n(prev ? &prev->alllink : &sched.allg, next, __ATOMIC_RELEASE);
    if (next) next->allprev = prev;
    size_t last = atomic_load_explicit(&sched.nallgs, memory_order_relaxed) - 1;
    struct g **a = atomic_load_explicit(&sched.allgs, memory_order_relaxed);
    a[gp->allg_idx] = a[last];
    a[last]->allg_idx = gp->allg_idx;
    atomic_store_explicit(&sched.nallgs, last, memory_order_release);
    gp->schedlink = sched.glimbo;
    sched.glimbo = gp;
  }
  if (sched.glimbo && !sched.gdead && atomic_load(&sched.allg_readers) == 0) {
    sched.gdead = sched.glimbo;
    sched.glimbo = NULL;
  }
  struct g *batch = NULL;
  for (int n = 0; n < 64 && sched.gdead; n++) {
    struct g *gp = sched.gdead;
    sched.gdead = gp->schedlink;
    gp->schedlink = batch;
    batch = gp;
  }
  bool more = sched.ngfree_released > GFREE_KEEP_RELEASED || sched.gdead;
  bool waiting = sched.glimbo != NULL; /* for a walk to end */
  rt_lock_release(&sched.lock);
  bool freed = batch != NULL;
  while (batch) {
    struct g *gp = batch;
    batch = gp->schedlink;
    if (gp->stack_lo) stack_free_released(gp->stack_lo, gp->stack_hi, gp->stack_kind);
    free(gp);
  }
#ifdef __GLIBC__
  /* The records were spread over malloc's arenas among other blocks: give
   * back the pages they leave free, not only the arenas' tops. */
  if (freed && !more && !waiting) malloc_trim(0);
#endif
  return more ? nanotime() : waiting ? nanotime() + GFREE_TRIM_RETRY_NS : 0;
}

/* The idle M's housekeeping: stack memory first, then G records.  Returns
 * when to call again, 0 if nothing is left to do. */
static int64_t scavenge_stacks(void) {
  int64_t a = release_stacks(), b = free_gs();
  return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

static void gfput(struct p *pp, struct g *gp) {
  if (gp->stack_hi - gp->stack_lo != STACK_DEFAULT) {
    stack_free(gp->stack_lo, gp->stack_hi, gp->stack_kind);
    gp->stack_lo = gp->stack_hi = 0;
    gp->stack_kind = STACK_NONE;
  }
  gp->schedlink = pp->gfree;
  pp->gfree = gp;
  if (++pp->gfreecnt < GFREE_LOCAL_MAX) return;
  /* Move half to the global list; scavenge_stacks trims it when idle. */
  rt_lock_acquire(&sched.lock);
  while (pp->gfreecnt > GFREE_LOCAL_MAX / 2) {
    struct g *g2 = pp->gfree;
    pp->gfree = g2->schedlink;
    pp->gfreecnt--;
    g2->schedlink = sched.gfree;
    sched.gfree = g2;
    sched.ngfree++;
  }
  bool excess = sched.ngfree > GFREE_KEEP_RESIDENT && sched.gfree_excess_since == 0;
  rt_lock_release(&sched.lock);
  if (excess) {
    int64_t now = nanotime();
    rt_lock_acquire(&sched.lock);
    if (sched.ngfree > GFREE_KEEP_RESIDENT && sched.gfree_excess_since == 0)
      sched.gfree_excess_since = now;
    rt_lock_release(&sched.lock);
  }
}

static struct g *g_alloc(void) {
  /* Cache-line aligned: what a walk of allg reads of a G that did not
   * move (id to the wall profile's cache) is one line. */
  struct g *gp = aligned_alloc(64, (sizeof *gp + 63) & ~(size_t)63);
  if (!gp) return NULL;
  memset(gp, 0, sizeof *gp);
  gp->sleeptimer.idx = -1;
  rt_lock_acquire(&sched.lock);
  size_t n = atomic_load_explicit(&sched.nallgs, memory_order_relaxed);
  struct g **a = atomic_load_explicit(&sched.allgs, memory_order_relaxed);
  if (n == sched.allgs_cap) {
    size_t cap = sched.allgs_cap ? 2 * sched.allgs_cap : 1024;
    /* Slot 0 links the block to the one it replaces, which is kept (a
     * reader may be in it) and stays reachable (LeakSanitizer). */
    struct g **bigger = malloc((cap + 1) * sizeof *bigger);
    if (!bigger) {
      rt_lock_release(&sched.lock);
      free(gp);
      return NULL;
    }
    bigger[0] = a ? (struct g *)(void *)(a - 1) : NULL;
    if (n) memcpy(bigger + 1, a, n * sizeof *a);
    a = bigger + 1;
    sched.allgs_cap = cap;
    atomic_store_explicit(&sched.allgs, a, memory_order_release);
  }
  a[n] = gp;
  gp->allg_idx = (uint32_t)n;
  atomic_store_explicit(&sched.nallgs, n + 1, memory_order_release);
  gp->alllink = sched.allg;
  if (sched.allg) sched.allg->allprev = gp;
  sched.allg = gp;
  rt_lock_release(&sched.lock);
  return gp;
}

/* Creates a runnable G; queued on pp (runnext) or, without a P, globally. */
static int newproc(struct p *pp, const grt_go_opts *opts, void (*fn)(void *), void *arg,
                   uintptr_t gopc, struct g **out) {
  size_t size = STACK_DEFAULT;
  if (opts && opts->stack_size) {
    size = opts->stack_size < STACK_MIN ? STACK_MIN : opts->stack_size;
    size = (size + 4095) & ~(size_t)4095;
    if (size < opts->stack_size) return -EINVAL; /* overflowed rounding */
  }
  struct g *gp = NULL;
  if (pp && size == STACK_DEFAULT) gp = gfget(pp);
  if (!gp && !pp && size == STACK_DEFAULT) {
    rt_lock_acquire(&sched.lock);
    gp = gfree_pop_global();
    rt_lock_release(&sched.lock);
  }
  if (!gp) gp = g_alloc();
  if (!gp) return -ENOMEM;
  if (gp->stack_lo == 0) {
    int err = stack_alloc(size, &gp->stack_lo, &gp->stack_hi, &gp->stack_kind);
    if (err) {
      /* keep the G struct on a free list; it has no stack */
      if (pp) {
        gp->schedlink = pp->gfree;
        pp->gfree = gp;
        pp->gfreecnt++;
      }
      return err;
    }
  }
  fiber_fresh(gp->stack_lo, gp->stack_hi);
  arch_ctx_init(&gp->ctx, gp->stack_hi, (uintptr_t)sched_goentry, gp);
  gp->fn = fn;
  gp->arg = arg;
  gp->m = NULL;
  gp->lockedm = NULL;
  gp->lockcount = 0;
  gp->param = NULL;
  gp->is_main = false;
  gp->waitreason = NULL;
  gp->name[0] = 0;
  gp->resume_mark = 1;
  /* A child inherits its creator's profiler labels, as in Go. */
  struct g *creator = getcurg();
  gp->gopc = gopc;
  gp->parentid = creator ? creator->id : 0;
  gp->labels = creator ? creator->labels : NULL;
  sched_labels_retain(gp->labels);
  if (opts && opts->name) snprintf(gp->name, sizeof gp->name, "%s", opts->name);
  if (pp) {
    gp->id = next_goid(pp);
    p_count(&pp->created);
  } else {
    gp->id = atomic_fetch_add(&sched.goidgen, 1) + 1;
    atomic_fetch_add_explicit(&sched.created_without_p, 1, memory_order_relaxed);
  }
  atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
  if (out) *out = gp;
  if (pp) {
    runq_put(pp, gp, true);
  } else {
    rt_lock_acquire(&sched.lock);
    globrunq_put_batch(gp, gp, 1);
    rt_lock_release(&sched.lock);
  }
  wakep();
  return 0;
}

static void goexit_m(struct g *gp) {
  struct m *mp = drop_g(gp, G_DEAD);
  /* After drop_g: m->curg no longer points at gp, so this thread's SIGPROF
   * handler cannot take a reference to a set being freed. */
  sched_labels_release(gp->labels);
  gp->labels = NULL;
  if (gp->lockedm) { /* exiting while wired: unwire */
    gp->lockedm = NULL;
    mp->lockedg = NULL;
  }
  p_count(&mp->p->exited);
  gfput(mp->p, gp);
  schedule();
}

static void run_fiber_call(void *call) {
  fiber_call_run(call);
}

/* Runs fn(arg) on g0 (sched_systemstack), with the ASan annotations for
 * both directions. */
static void run_on_g0(void *(*fn)(void *), void *arg) {
  struct g *gp = getcurg();
  if (!gp) {
    fn(arg);
    return;
  }
  struct fiber_call c = {fn, arg, gp->stack_lo, gp->stack_hi};
  asan_switch_begin(&gp->asan_fake, gp->m->g0);
  sched_systemstack(run_fiber_call, &c);
  fiber_end(gp->asan_fake);
}

static void *exit_process(void *code) {
  exit((int)(intptr_t)code);
}

static void main_goroutine(void *unused) {
  (void)unused;
  /* Marked here, on itself, before main_fn runs: once newproc queued it,
   * another M may have taken it and run main_fn's grt_exit before
   * sched_run_main got to mark it. */
  getcurg()->is_main = true;
  int code = sched.main_fn(sched.main_argc, sched.main_argv);
  /* As in Go: main returning ends the process.  exit(3) runs on g0, whose
   * stack is the thread's own and large enough for atexit handlers. */
  run_on_g0(exit_process, (void *)(intptr_t)code);
  abort();
}

/* ---- public API ---------------------------------------------------------- */

bool sched_started(void) {
  return atomic_load(&sched.started) != 0;
}

int sched_nprocs(void) {
  return sched_started() ? sched.nprocs : 0;
}

int sched_init(const struct sched_config *cfg) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&sched.started, &expected, 1)) return -EBUSY;
  sched.nprocs = cfg->nprocs;
  sched.max_threads = cfg->max_threads;
  sched.handoff_ns = cfg->handoff_ns;
  sched.debug_hogs = cfg->debug_hogs;
  sched.main_stack = cfg->main_stack;
  pthread_sigmask(SIG_SETMASK, NULL, &sched.sigmask);
  /* Never blocked on an M: the profiler's, faults (overflow reports), the
   * hogs report's, and the dump's. */
  static const int needed[] = {SIGPROF, SIGSEGV, SIGBUS, SIGURG, SIGQUIT};
  for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
    sigdelset(&sched.sigmask, needed[i]);
  }
  pthread_sigmask(SIG_SETMASK, &sched.sigmask, NULL); /* m0 too */
  /* sysmon's half of the handoff handshake (see sysmon_handoff). */
  sched.can_handoff = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  if (!sched.can_handoff)
    warn_line("grt: membarrier(2) is not available (%s): a goroutine that blocks or computes "
              "without calling grt holds its P",
              strerror(errno));
  if (sched.debug_hogs) hog_signal_install();
  stack_init(cfg->stack_guard_budget);
  warn_set_traceback(print_traceback);
  sched.allp = calloc(sched.nprocs, sizeof *sched.allp);
  if (!sched.allp) return -ENOMEM;
  for (int i = 0; i < sched.nprocs; i++) {
    struct p *pp = calloc(1, sizeof *pp);
    if (!pp) return -ENOMEM;
    pp->id = i;
    sched.allp[i] = pp;
  }
  for (int i = sched.nprocs - 1; i > 0; i--)
    pidle_put(sched.allp[i]);
  struct m *m0 = m_alloc();
  if (!m0) return -ENOMEM;
  sched.m0 = m0;
  /* g0 restarts below this frame: only grt_main's frame, above it, stays
   * live (sched_run_main never returns). */
  m_bind_thread(m0, (uintptr_t)__builtin_frame_address(0));
  stack_signal_install();
  sched_fork_init();
  sched_sysmon_start();
  return 0;
}

void sched_run_main(int (*main_fn)(int, char **), int argc, char **argv) {
  sched.main_fn = main_fn;
  sched.main_argc = argc;
  sched.main_argv = argv;
  struct m *m0 = sched.m0;
  acquirep(m0, sched.allp[0]);
  /* A C main expects a big stack: 8 MiB by default, MAP_NORESERVE, so
   * only the pages it touches cost memory. */
  grt_go_opts opts = {.stack_size = sched.main_stack, .name = NULL};
  int err = newproc(m0->p, sched.main_stack ? &opts : NULL, main_goroutine, NULL, 0, NULL);
  if (err) {
    warn_line("grt: grt_main: cannot start the main goroutine: %s", strerror(-err));
    exit(2);
  }
  schedule();
}

/* grt_go and grt_go_with; gopc: their caller, for "created by" in dumps. */
static inline __attribute__((always_inline)) int go(const grt_go_opts *opts, void (*fn)(void *),
                                                    void *arg, uintptr_t gopc) {
  RT_ENTER();
  if (!fn) {
    warn_line("grt: grt_go: fn is NULL");
    return -EINVAL;
  }
  if (!sched_started()) {
    warn_line("grt: grt_go called before grt_main started the runtime");
    return -EPERM;
  }
  struct p *pp = currentp();
  if (!pp && sched_forked()) return sched_forked_refuse("grt_go");
  int err = newproc(pp, opts, fn, arg, gopc, NULL);
  /* Backpressure: a goroutine that spawns faster than the Ps run what it
   * spawns would otherwise pile up live goroutines, each on a fresh stack
   * whose first touch costs a page fault, and fall further behind.  When
   * its own queue is half full, the spawner lets its P run some of them. */
  if (err == 0 && pp && getcurg() &&
      atomic_load_explicit(&pp->runqtail, memory_order_relaxed) -
              atomic_load_explicit(&pp->runqhead, memory_order_relaxed) >=
          RUNQ_SIZE / 2)
    grt_yield();
  return err;
}

int grt_go_with(const grt_go_opts *opts, void (*fn)(void *), void *arg) {
  return go(opts, fn, arg, (uintptr_t)__builtin_return_address(0));
}

int grt_go(void (*fn)(void *), void *arg) {
  return go(NULL, fn, arg, (uintptr_t)__builtin_return_address(0));
}

void grt_yield(void) {
  uint32_t mark = rt_enter();
  struct g *gp = getcurg();
  if (!gp) {
    sched_yield();
    return;
  }
  /* It resumes in its caller (no leave of its own, below): execute()
   * restores the caller's mark. */
  gp->resume_mark = mark;
  asan_switch_begin(&gp->asan_fake, gp->m->g0);
  /* No KEEP_FRAME here, unlike sched_park: a tail call resumes straight
   * into our caller, and the extra return costs a yield a third of its
   * time (a return-stack miss after every switch). */
  sched_mcall(yield_m);
  fiber_end(gp->asan_fake);
}

void grt_exit(void) {
  rt_enter(); /* never left: the goroutine ends in the runtime */
  struct g *gp = getcurg();
  if (!gp) {
    if (sched_forked()) exit(0); /* the forked child's only thread (fork.c) */
    warn_line("grt: grt_exit called outside a goroutine; ending the thread");
    pthread_exit(NULL);
  }
  /* First: on the main goroutine too, a callback's caller would never get
   * control back (exiting the process instead hides the misuse). */
  if (atomic_load_explicit(&gp->m->cb_depth, memory_order_relaxed) > 0)
    warn_fatal("grt_exit called inside grt_callback: the external code that called back "
               "would never get control again");
  if (gp->is_main) run_on_g0(exit_process, (void *)0);
  asan_switch_begin(NULL, gp->m->g0);
  sched_mcall(goexit_m);
  abort();
}

uint64_t grt_id(void) {
  struct g *gp = getcurg();
  return gp ? gp->id : 0;
}

int64_t grt_nanotime(void) {
  return nanotime();
}

void grt_lock_thread(void) {
  struct g *gp = getcurg();
  if (!gp) return;
  gp->lockcount++;
  gp->lockedm = gp->m;
  gp->m->lockedg = gp;
}

void grt_unlock_thread(void) {
  struct g *gp = getcurg();
  if (!gp || gp->lockcount == 0) return;
  if (--gp->lockcount == 0) {
    gp->m->lockedg = NULL;
    gp->lockedm = NULL;
  }
}

int grt_read_stats(grt_stats *st) {
  /* No RT_ENTER: stats are read as they are; a caller whose P was handed
   * off counts itself as running without one (live_handoff_state). */
  if (!st) {
    warn_line("grt: grt_read_stats: st is NULL");
    return -EINVAL;
  }
  memset(st, 0, sizeof *st);
  if (!sched_started()) return 0;
  if (sched_forked()) return sched_forked_refuse("grt_read_stats");
  uint64_t created = atomic_load(&sched.created_without_p) + atomic_load(&sched.callback_gs_live),
           exited = 0;
  for (int i = 0; i < sched.nprocs; i++) {
    created += atomic_load(&sched.allp[i]->created);
    exited += atomic_load(&sched.allp[i]->exited);
    if (i < 64) st->procs_ran[i] = atomic_load(&sched.allp[i]->ran);
  }
  st->goroutines = created - exited;
  rt_lock_acquire(&sched.lock);
  st->threads = (uint64_t)(sched.mcount - sched.nmfree);
  rt_lock_release(&sched.lock);
  stack_counts(&st->stacks_guarded, &st->stacks_canary, &st->vma_budget);
  st->extra_ms = atomic_load(&sched.extra_count);
  st->handoffs = atomic_load(&sched.handoffs);
  int64_t without = atomic_load(&sched.running_without_p);
  st->running_without_p = without > 0 ? (uint64_t)without : 0;
  st->procs_idle = (uint64_t)atomic_load(&sched.npidle);
  return 0;
}

int grt_stack_bounds(uintptr_t *lo, uintptr_t *hi) {
  struct g *gp = getcurg();
  if (!gp) return -EPERM; /* grt.h: -EPERM outside a goroutine */
  if (lo) *lo = gp->stack_lo;
  if (hi) *hi = gp->stack_hi;
  return 0;
}

extern char sched_gogo_end[], sched_mcall_end[], sched_switch_end[], sched_systemstack_end[],
    sched_goentry_end[], sched_extcall_tramp_end[], sched_callback_tramp_end[];

int grt_switch_ranges(const grt_code_range **ranges) {
  static grt_code_range table[7];
  static _Atomic int ready;
  if (!atomic_load_explicit(&ready, memory_order_acquire)) {
    grt_code_range t[7] = {
        {"sched_gogo", (uintptr_t)sched_gogo, (uintptr_t)sched_gogo_end},
        {"sched_mcall", (uintptr_t)sched_mcall, (uintptr_t)sched_mcall_end},
        {"sched_switch", (uintptr_t)sched_switch, (uintptr_t)sched_switch_end},
        {"sched_systemstack", (uintptr_t)sched_systemstack, (uintptr_t)sched_systemstack_end},
        {"sched_goentry", (uintptr_t)sched_goentry, (uintptr_t)sched_goentry_end},
        {"sched_extcall_tramp", (uintptr_t)sched_extcall_tramp, (uintptr_t)sched_extcall_tramp_end},
        {"sched_callback_tramp", (uintptr_t)sched_callback_tramp,
         (uintptr_t)sched_callback_tramp_end},
    };
    memcpy(table, t, sizeof t);
    atomic_store_explicit(&ready, 1, memory_order_release);
  }
  if (ranges) *ranges = table;
  return 7;
}

/* ---- foreign code: the blocking-call handoff, callbacks, extra Ms ---------
 *
 * An M in external code (grt_extcall) keeps its P in state P_SYSCALL.  If
 * the call lasts, sysmon retakes the P (CAS P_SYSCALL -> P_IDLE) and hands
 * it to another M, so other goroutines keep running.  On return the M takes
 * its P back with the reverse CAS, or any idle P, or queues its G and
 * sleeps.  A goroutine inside a callback is wired to its M (its external
 * caller's frames are on that M's g0), so a blocked callback G keeps its M
 * and gives away only the P. */

void sched_entersyscall(struct m *mp) {
  struct p *pp = mp->p;
  atomic_store_explicit(&pp->syscalltick, atomic_load(&pp->syscalltick) + 1, memory_order_relaxed);
  atomic_store(&pp->status, P_SYSCALL);
  if (atomic_load(&sysmon_sleeping) && atomic_exchange(&sysmon_sleeping, 0))
    note_wakeup(&sysmon_note);
}

/* On g0 after the G is saved: no P to be had, so queue gp and sleep. */
static void exitsyscall_m(struct g *gp) {
  struct m *mp = drop_g(gp, G_RUNNABLE);
  rt_lock_acquire(&sched.lock);
  struct p *pp = pidle_get();
  if (!pp) globrunq_put_batch(gp, gp, 1);
  rt_lock_release(&sched.lock);
  if (pp) {
    acquirep(mp, pp);
    execute(mp, gp);
  }
  if (mp->lockedg) { /* whoever picks gp from the queue hands us its P */
    wait_for_handed_p(mp);
    execute(mp, gp);
  }
  stopm(mp);
  schedule();
}

/* Back from external code on gp's stack: get a P again. */
void sched_exitsyscall(struct m *mp, struct g *gp) {
  struct p *pp = mp->p;
  uint32_t st = P_SYSCALL;
  if (pp && atomic_compare_exchange_strong(&pp->status, &st, P_RUNNING)) return;
  mp->p = NULL; /* sysmon took it */
  rt_lock_acquire(&sched.lock);
  struct p *p2 = pidle_get();
  rt_lock_release(&sched.lock);
  if (p2) {
    acquirep(mp, p2);
    return;
  }
  asan_switch_begin(&gp->asan_fake, mp->g0);
  sched_mcall(exitsyscall_m);
  fiber_end(gp->asan_fake);
}

/* On g0 (a callback entry): get a P for gp, which is wired to mp.  Either
 * our own P back from P_SYSCALL, an idle P, or queue gp and sleep until the
 * M that finds it hands over its P (startlockedm). */
void sched_acquire_p_for_locked(struct m *mp, struct g *gp) {
  struct p *pp = mp->p;
  uint32_t st = P_SYSCALL;
  if (!(pp && atomic_compare_exchange_strong(&pp->status, &st, P_RUNNING))) {
    mp->p = NULL;
    rt_lock_acquire(&sched.lock);
    pp = pidle_get();
    if (!pp) {
      atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
      gp->m = NULL;
      mp->curg = NULL;
      cbq_put(gp);
    }
    rt_lock_release(&sched.lock);
    if (pp)
      acquirep(mp, pp);
    else
      wait_for_handed_p(mp);
  }
  gp->m = mp;
  mp->curg = gp;
  atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
}

/* Gives up the P at the end of a callback.  Callbacks from many foreign
 * threads queue their wired Gs globally while they wait for a P; if one is
 * at the head, its M gets our P directly (one wakeup) rather than through
 * an idle M that would only pass it on (two). */
void sched_drop_p(struct m *mp) {
  if (!mp->p) return;
  struct p *pp = releasep(mp);
  if (sched_forked()) return; /* nobody to hand it to (fork.c) */
  /* Straight to the next callback waiting for a P (one wakeup instead of
   * two) when nothing else wants this P.  When goroutines or due timers
   * do, only every other time: passed from callback to callback, a P never
   * ran its own goroutines or timers (a storm of 64 threads calling back
   * starved a yielding goroutine for seconds, and a sleeper for minutes).
   * With findrunnable alternating the same way (cbtick), each kind of work
   * waits for at most one turn of the other. */
  int64_t when = atomic_load(&pp->timer0when);
  bool other =
      (when != 0 && when <= nanotime()) || !runq_empty(pp) || atomic_load(&sched.runq.size) > 0;
  if (atomic_load(&sched.cbq.size) > 0 && (!other || pp->cbtick != pp->schedtick)) {
    rt_lock_acquire(&sched.lock);
    struct g *gp = cbq_get();
    if (gp) {
      pp->cbtick = pp->schedtick;
      struct m *locked = gp->lockedm;
      locked->nextp = pp; /* it waits in wait_for_handed_p, then runs gp */
      rt_lock_release(&sched.lock);
      note_wakeup(&locked->park);
      return;
    }
    rt_lock_release(&sched.lock);
  }
  handoffp(pp);
}

/* The G for an outermost callback from a foreign thread: the extra M's own,
 * kept from call to call (one outermost callback at a time per thread), on
 * a 1 MiB stack (MAP_NORESERVE, so untouched pages cost nothing) so that
 * callbacks nest deep.  Each callback is a new goroutine: a new id.  Wired
 * to mp; not on any run queue. */
struct g *sched_new_callback_g(struct m *mp) {
  struct g *gp = mp->cbg;
  if (!gp) {
    gp = g_alloc();
    if (!gp) return NULL;
    if (stack_alloc(STACK_CALLBACK, &gp->stack_lo, &gp->stack_hi, &gp->stack_kind) != 0)
      return NULL; /* the G stays on allg, unused */
    mp->cbg = gp;
  }
  fiber_fresh(gp->stack_lo, gp->stack_hi);
  gp->id = atomic_fetch_add(&sched.goidgen, 1) + 1;
  gp->lockedm = mp;
  gp->lockcount = 1;
  gp->is_main = false;
  gp->name[0] = 0;
  mp->lockedg = gp;
  atomic_fetch_add(&sched.callback_gs_live, 1);
  return gp;
}

void sched_free_callback_g(struct m *mp, struct g *gp) {
  atomic_store_explicit(&gp->status, G_DEAD, memory_order_relaxed);
  gp->lockedm = NULL;
  gp->lockcount = 0;
  gp->m = NULL;
  mp->lockedg = NULL;
  mp->curg = NULL;
  sched_labels_release(gp->labels); /* after curg: see goexit_m */
  gp->labels = NULL;
  atomic_fetch_sub(&sched.callback_gs_live, 1);
}

/* An extra M from the pool (lock-free: popping takes the whole list, so no
 * ABA), or a new one; bound to the calling thread. */
static pthread_key_t extra_key;
static pthread_once_t extra_once = PTHREAD_ONCE_INIT;

static void extra_pool_push(struct m *mp) {
  struct m *head = atomic_load(&sched.extra_pool);
  do
    mp->extralink = head;
  while (!atomic_compare_exchange_weak(&sched.extra_pool, &head, mp));
}

/* Thread exit: give the M back.  Runs with the thread's TLS still valid. */
static void extra_release(void *arg) {
  struct m *mp = arg;
  /* Order for the profiler: no timer, then no M for this thread's handler,
   * then the M may go to another thread (the pool push is a release). */
  if (sched.hooks.m_exiting) sched.hooks.m_exiting(mp);
  setg(NULL);
  atomic_signal_fence(memory_order_seq_cst);
  mp->tid = 0;
  extra_pool_push(mp);
}

static void extra_key_init(void) {
  pthread_key_create(&extra_key, extra_release);
}

struct m *sched_new_extra_m(void) {
  pthread_once(&extra_once, extra_key_init);
  struct m *mp = atomic_exchange(&sched.extra_pool, NULL);
  if (mp) {
    struct m *rest = mp->extralink;
    while (rest) {
      struct m *next = rest->extralink;
      extra_pool_push(rest);
      rest = next;
    }
  } else {
    mp = m_alloc();
    if (!mp) return NULL;
    mp->is_extra = true;
    atomic_fetch_add(&sched.extra_count, 1);
  }
  m_bind_thread(mp, (uintptr_t)__builtin_frame_address(0));
  atomic_store(&mp->in_external, true);
  pthread_setspecific(extra_key, mp);
  return mp;
}

/* ---- sysmon --------------------------------------------------------------
 * A thread (not an M) that takes Ps away from Ms that cannot use them:
 *   - Ms in external code (grt_extcall, P_SYSCALL): retaken after 20 us
 *     when work waits, after 10 ms in any case, as Go's retake;
 *   - Ms whose goroutine runs its own code without calling grt for
 *     handoff_ns (10 ms): a blocking read, sleep(3), a lock, a long loop.
 *     Go preempts such a goroutine; grt cannot switch C code away at an
 *     arbitrary instruction (it may hold libc locks, or be halfway through
 *     malloc's thread state), so it moves the P instead: the goroutine keeps
 *     its thread, its stack and every lock it holds, and gets a P back at
 *     its next grt call (sched_handoff_return).
 * It polls every 20 us while extcalls are in flight, backs off to 10 ms
 * (at most handoff_ns / 2 while a P runs), and sleeps on a note when every
 * P is idle and none is in P_SYSCALL; sched_entersyscall and acquirep wake
 * it (one atomic load each otherwise). */

#define SYSMON_RETAKE_NS 20000
#define SYSMON_MAX_DELAY_NS 10000000
#define SYSMON_BLOCKED_NS 1000000 /* a P held by a thread asleep in the kernel */

static struct {
  uint32_t tick; /* syscalltick last seen */
  int64_t since;
  uint32_t runtick; /* schedtick last seen while P_RUNNING */
  int64_t runsince;
  int64_t tried; /* last handoff attempt on this runtick, 0: none */
} * sysmon_seen;

static void sysmon_wake(void) {
  if (atomic_load_explicit(&sysmon_sleeping, memory_order_relaxed) &&
      atomic_exchange(&sysmon_sleeping, 0)) {
    atomic_store_explicit(&sched.coarse_now, nanotime(), memory_order_relaxed); /* it slept */
    note_wakeup(&sysmon_note);
  }
}

int64_t sched_coarse_now(void) {
  int64_t t = atomic_load_explicit(&sched.coarse_now, memory_order_relaxed);
  return t ? t : nanotime(); /* before sysmon's first round */
}

/* ---- handing off a stuck P -------------------------------------------------
 * The handshake between sysmon and the M, which must agree on who owns the
 * P without a fence on the M's fast path:
 *   M (rt_enter):  in_runtime = 1; compiler barrier; load handoff
 *   sysmon:        CAS handoff 0 -> 1; membarrier(); load in_runtime
 * membarrier(PRIVATE_EXPEDITED) runs a full barrier on every running thread
 * of the process, so the two cannot both miss each other's store: either
 * the M sees handoff != 0 (and waits for sysmon's verdict), or sysmon sees
 * in_runtime == 1 (and backs off).  When sysmon sees 0, the M is in its
 * goroutine's own code and will not touch its P before its next rt_enter,
 * which finds handoff == 2: the P is sysmon's to hand on.  A thread blocked
 * in the kernel is not interrupted: no signal is sent (a signal would make
 * sleep(3) or nanosleep return early). */

static _Atomic int maxthreads_warned;

/* Takes pp from mp, whose goroutine has not let pp schedule since tick.
 * true when pp was handed off. */
static bool sysmon_handoff(struct p *pp, struct m *mp, uint32_t tick) {
  if (!mp || mp->is_extra) return false; /* callbacks keep their P */
  rt_lock_acquire(&sched.lock);
  bool at_cap = sched.mcount >= sched.max_threads;
  rt_lock_release(&sched.lock);
  if (at_cap) {
    if (!atomic_exchange(&maxthreads_warned, 1))
      warn_line("grt: %ld threads (GRT_MAXTHREADS) reached: goroutines that block or compute "
                "without calling grt now keep their P",
                sched.max_threads);
    return false;
  }
  uint32_t zero = 0;
  if (!atomic_compare_exchange_strong(&mp->handoff, &zero, 1)) return false;
  syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  bool own_code = atomic_load_explicit(&mp->in_runtime, memory_order_relaxed) == 0 &&
                  atomic_load_explicit(&mp->ext_depth, memory_order_relaxed) == 0 &&
                  atomic_load_explicit(&mp->cb_depth, memory_order_relaxed) == 0 &&
                  __atomic_load_n(&mp->p, __ATOMIC_RELAXED) == pp &&
                  __atomic_load_n(&pp->m, __ATOMIC_RELAXED) == mp &&
                  atomic_load(&pp->status) == P_RUNNING &&
                  __atomic_load_n(&pp->schedtick, __ATOMIC_RELAXED) == tick;
  if (!own_code) {
    atomic_store(&mp->handoff, 0);
    return false;
  }
  /* Its goroutine cannot exit (nor its G be freed) before its next grt
   * call: read the id for the hogs report now. */
  struct g *gp = __atomic_load_n(&mp->curg, __ATOMIC_RELAXED);
  mp->hog_goid = gp ? gp->id : 0;
  atomic_fetch_add(&sched.running_without_p, 1);
  atomic_fetch_add(&sched.handoffs, 1);
  atomic_store_explicit(&mp->handoff, 2, memory_order_release);
  __atomic_store_n(&pp->m, NULL, __ATOMIC_RELAXED);
  handoffp(pp);
  return true;
}

/* On the M, at its first grt call after sysmon took its P (or while sysmon
 * decides): get a P again, as an extcall's return does. */
void sched_handoff_return(struct m *mp) {
  uint32_t h;
  while ((h = atomic_load_explicit(&mp->handoff, memory_order_acquire)) == 1)
    arch_pause(); /* sysmon's verdict is a membarrier away */
  if (h == 0) return;
  atomic_store_explicit(&mp->handoff, 0, memory_order_relaxed);
  atomic_fetch_sub(&sched.running_without_p, 1);
  mp->p = NULL;
  rt_lock_acquire(&sched.lock);
  struct p *pp = pidle_get();
  rt_lock_release(&sched.lock);
  if (pp) {
    acquirep(mp, pp);
    return;
  }
  struct g *gp = mp->curg;
  asan_switch_begin(&gp->asan_fake, mp->g0);
  sched_mcall(exitsyscall_m); /* queues gp; it resumes here on some M with a P */
  fiber_end(gp->asan_fake);
}

/* ---- GRT_DEBUG=hogs: which code held the P ----------------------------------
 * After a handoff, sysmon sends SIGURG to the M's thread; the handler (async-
 * signal-safe: a frame-pointer walk of the interrupted goroutine's own stack)
 * leaves the pcs in the M, and sysmon prints them.  The signal may cut a
 * blocking call short (EINTR), which is why this is a debugging mode. */

static struct sigaction hog_prev; /* the program's SIGURG handler, chained to */

static bool hog_push(void *out, uintptr_t ret) {
  struct m *mp = out;
  int32_t n = atomic_load_explicit(&mp->hog_n, memory_order_relaxed);
  if (n >= 32) return false;
  mp->hog_pcs[n] = ret - 1;
  atomic_store_explicit(&mp->hog_n, n + 1, memory_order_relaxed);
  return true;
}

__attribute__((no_sanitize_address)) static void hog_handler(int sig, siginfo_t *si, void *uc) {
  int saved_errno = errno;
  struct g *g = grt_tls_g;
  struct m *mp = g ? g->m : NULL;
  if (mp && atomic_load_explicit(&mp->hog_n, memory_order_acquire) == -1) {
    uintptr_t pc = arch_uc_pc(uc), sp = arch_uc_sp(uc), fp = arch_uc_fp(uc), lr = arch_uc_lr(uc);
    atomic_store_explicit(&mp->hog_n, 0, memory_order_relaxed);
    if (g == mp->curg && sp >= g->stack_lo && sp < g->stack_hi) {
      mp->hog_pcs[0] = pc;
      atomic_store_explicit(&mp->hog_n, 1, memory_order_relaxed);
      unw_walk((struct unw_regs){pc, sp, fp, lr}, true, g->stack_lo, g->stack_hi, unw_read_direct,
               NULL, hog_push, mp, NULL);
    }
    int32_t n = atomic_load_explicit(&mp->hog_n, memory_order_relaxed);
    atomic_store_explicit(&mp->hog_n, n + 1000, memory_order_release); /* done */
  }
  errno = saved_errno;
  if (hog_prev.sa_flags & SA_SIGINFO)
    hog_prev.sa_sigaction(sig, si, uc);
  else if (hog_prev.sa_handler != SIG_DFL && hog_prev.sa_handler != SIG_IGN)
    hog_prev.sa_handler(sig);
}

static void hog_signal_install(void) {
  struct sigaction sa = {.sa_sigaction = hog_handler,
                         .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGURG, &sa, &hog_prev);
}

static void hog_report(struct m *mp, int64_t held_ns) {
  uint64_t id = mp->hog_goid;
  atomic_store_explicit(&mp->hog_n, -1, memory_order_release);
  syscall(SYS_tgkill, getpid(), mp->tid, SIGURG);
  int64_t until = nanotime() + 20000000;
  int32_t n;
  while ((n = atomic_load_explicit(&mp->hog_n, memory_order_acquire)) < 1000 &&
         nanotime() < until) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  warn_line("grt: goroutine %llu held its P for %lld ms without calling grt; the P was handed "
            "off (GRT_DEBUG=hogs)%s",
            (unsigned long long)id, (long long)(held_ns / 1000000),
            n < 1000 ? "; its stack could not be taken" : ":");
  if (n > 1000) print_pcs(2, mp->hog_pcs, n - 1000);
  atomic_store_explicit(&mp->hog_n, 0, memory_order_relaxed);
}

/* Is thread tid asleep in the kernel ('S' or 'D' in /proc)?  A hint for
 * when to try a handoff, never for whether it is safe (the handshake
 * decides that). */
static bool thread_blocked(pid_t tid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char *paren = strrchr(buf, ')'); /* the name may hold spaces */
  return paren && paren[1] == ' ' && (paren[2] == 'S' || paren[2] == 'D');
}

/* Watches one running P: returns true when it was handed off. */
static bool sysmon_watch(int i, struct p *pp, int64_t now) {
  uint32_t t = __atomic_load_n(&pp->schedtick, __ATOMIC_RELAXED);
  if (sysmon_seen[i].runtick != t) {
    sysmon_seen[i].runtick = t;
    sysmon_seen[i].runsince = now;
    sysmon_seen[i].tried = 0;
    return false;
  }
  int64_t held = now - sysmon_seen[i].runsince;
  if (!sched.can_handoff || held < SYSMON_BLOCKED_NS) return false;
  struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_RELAXED);
  /* A thread asleep in the kernel for a while with work waiting (queued
   * goroutines, or a due timer) loses its P after SYSMON_BLOCKED_NS, as Go
   * retakes the P of a system call when others want it; one computing, or
   * with nothing waiting, after handoff_ns. */
  int64_t after = sched.handoff_ns;
  if (held < after && mp && thread_blocked(mp->tid)) {
    int64_t timer = earliest_timer(); /* any M runs every P's due timers */
    if (!runq_empty(pp) || global_work() || (timer != 0 && timer <= now)) after = SYSMON_BLOCKED_NS;
  }
  if (held < after) return false;
  /* At most one attempt per such period per P: an M busy in the runtime
   * (a long lock hold, a stack release) is left alone meanwhile. */
  if (sysmon_seen[i].tried && now - sysmon_seen[i].tried < after) return false;
  sysmon_seen[i].tried = now;
  if (!sysmon_handoff(pp, mp, t)) return false;
  if (sched.debug_hogs) hog_report(mp, held);
  return true;
}

static int sched_retake_now(int64_t now, bool *any_syscall, bool *any_running) {
  int n = 0;
  *any_syscall = false;
  *any_running = false;
  for (int i = 0; i < sched.nprocs; i++) {
    struct p *pp = sched.allp[i];
    uint32_t status = atomic_load(&pp->status);
    if (status == P_RUNNING) {
      *any_running = true;
      if (sysmon_watch(i, pp, now)) n++;
      continue;
    }
    sysmon_seen[i].runtick = __atomic_load_n(&pp->schedtick, __ATOMIC_RELAXED) - 1;
    if (status != P_SYSCALL) continue;
    *any_syscall = true;
    uint32_t t = atomic_load(&pp->syscalltick);
    if (sysmon_seen[i].tick != t) { /* a new call since we last looked */
      sysmon_seen[i].tick = t;
      sysmon_seen[i].since = now;
      continue;
    }
    int64_t in_call = now - sysmon_seen[i].since;
    if (in_call < SYSMON_RETAKE_NS) continue;
    /* Nothing waits for this P and someone could take new work: leave it,
     * unless the call has lasted 10 ms (as Go's retake). */
    if (runq_empty(pp) && !global_work() &&
        atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) > 0 &&
        in_call < SYSMON_MAX_DELAY_NS)
      continue;
    uint32_t st = P_SYSCALL;
    if (atomic_compare_exchange_strong(&pp->status, &st, P_IDLE)) {
      pp->m = NULL;
      handoffp(pp);
      n++;
    }
  }
  return n;
}

static _Atomic pid_t sysmon_tid;

pid_t sched_sysmon_tid(void) {
  return atomic_load(&sysmon_tid);
}

static void *sysmon_main(void *arg) {
  (void)arg;
  atomic_store(&sysmon_tid, (pid_t)syscall(SYS_gettid));
  int64_t delay = SYSMON_RETAKE_NS;
  int idle = 0;
  bool any_syscall = false, any_running = false;
  for (;;) {
    if (idle == 0)
      delay = SYSMON_RETAKE_NS;
    else if (idle > 50 && delay < SYSMON_MAX_DELAY_NS)
      delay *= 2;
    if (delay > SYSMON_MAX_DELAY_NS) delay = SYSMON_MAX_DELAY_NS;
    /* A running P is looked at every SYSMON_BLOCKED_NS (a thread asleep in
     * the kernel with work waiting loses its P after that long). */
    if (any_running && delay > SYSMON_BLOCKED_NS) delay = SYSMON_BLOCKED_NS;
    struct timespec ts = {delay / 1000000000, delay % 1000000000};
    nanosleep(&ts, NULL);
    int64_t now = nanotime();
    atomic_store_explicit(&sched.coarse_now, now, memory_order_relaxed);
    idle = sched_retake_now(now, &any_syscall, &any_running) ? 0 : idle + 1;
    if (!any_syscall && !any_running && idle > 50) {
      atomic_store(&sysmon_sleeping, 1);
      sched_retake_now(nanotime(), &any_syscall, &any_running); /* recheck after announcing */
      if (!any_syscall && !any_running) note_sleep(&sysmon_note, 0);
      atomic_store(&sysmon_sleeping, 0);
      note_clear(&sysmon_note);
      idle = 0;
    }
  }
  return NULL;
}

void sched_sysmon_start(void) {
  sysmon_seen = calloc(sched.nprocs, sizeof *sysmon_seen);
  if (!sysmon_seen) return;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* sysmon takes no signals */
  pthread_t th;
  if (pthread_create(&th, &attr, sysmon_main, NULL) != 0)
    warn_line("grt: cannot start sysmon; blocking extcalls will hold their P");
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}
