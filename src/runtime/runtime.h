/*
 * runtime.h - the runtime's internal types: G (goroutine), M (OS thread),
 * P (processor), and the cross-file functions of each subsystem.
 *
 * Invariants every file relies on:
 *   - The current G lives in the initial-exec TLS slot grt_tls_g, readable
 *     from a signal handler.  On an M it is either m->g0 (scheduler, runtime
 *     work) or m->curg (a goroutine); only the switch routines in
 *     src/arch/<cpu>/switch.S change it, together with SP.
 *   - A G's saved context (ctx) is valid only while the G is not running.
 *   - A G is on at most one queue at a time: a run queue (schedlink), or a
 *     wait list (waitlink / a channel's sudog queue).
 *   - Runtime locks (rt_lock) are held only briefly, never across a switch,
 *     except that park() releases the caller's lock on g0 after the G's
 *     context is saved, so a waker can never resume a half-saved G.
 */
#ifndef GRT_RUNTIME_H
#define GRT_RUNTIME_H

#include "arch.h"

/* Offsets shared with the assembly (checked by _Static_assert in sched.c);
 * the saved context's own layout is the architecture's (arch.h). */
#define G_M GCTX_SIZE
#define M_G0 0
#define M_TRANS 8
#define TRANS_SP 8
#define TRANS_PC 16
#define TRANS_FP 24
#define TRANS_CFA 32

#ifndef __ASSEMBLER__

#include "base/lock.h"
#include "base/warn.h"
#include "grt.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* errno, read afresh at every use.  glibc's errno is *__errno_location(),
 * a function declared const, so gcc computes the thread's errno address
 * once per function (and hoists it out of loops).  A goroutine that parks
 * in that function may resume on another thread, and then reads the old
 * thread's errno: a grt_connect_tcp that waited, moved, and saw its
 * getpeername fail, returned the first thread's EINPROGRESS (ASan run, CI).
 * A call through a volatile pointer cannot be reused, so every errno in
 * code that includes this header is the running thread's. */
extern int *(*volatile rt_errno_location)(void);
#undef errno
#define errno (*rt_errno_location())

struct g;
struct m;
struct p;

enum gstatus {
  G_IDLE,     /* just allocated or on a free list */
  G_RUNNABLE, /* on a run queue */
  G_RUNNING,  /* owned by an M, on its stack */
  G_WAITING,  /* parked; some waker will ready() it */
  G_DEAD,     /* exited; on a free list */
};

enum stack_kind {
  STACK_NONE,    /* g0: the thread's own stack */
  STACK_GUARDED, /* own mapping with a PROT_NONE guard page below lo */
  STACK_CANARY,  /* carved from a shared chunk; the lowest bytes must stay zero */
};

/* A timer in a P's heap.  f runs on some M's g0 with that M's P held. */
struct timer {
  int64_t when; /* CLOCK_MONOTONIC ns */
  void (*f)(void *arg);
  void *arg;
  struct p *pp; /* heap it is in, or NULL */
  int idx;      /* index in pp's heap, -1 when not in one */
};

struct g {
  struct gctx ctx;    /* saved context while not running (switch.S) */
  struct m *m;        /* the M running it; NULL when not running (switch.S) */
  uintptr_t stack_lo; /* usable stack is [stack_lo, stack_hi) */
  uintptr_t stack_hi;
  uint64_t id; /* 1 is the main goroutine; 0 for g0 */
  _Atomic uint32_t status;
  _Atomic uint32_t switches; /* +1 as it starts and stops running: snapshot.c's seqlock */
  struct g *alllink;         /* list of every G not freed (dumps; sched_allg) */
  /* The wall profile's cache (pprof/wallprof.c, its thread alone reads and
   * writes them): the sample this goroutine went to in session wall_session,
   * while its id and switch count stay wall_gid and wall_sw.  Beside id,
   * status, switches and alllink, so that a tick touches one cache line of
   * a goroutine that did not move. */
  uint32_t wall_gid; /* the id's low half: a G reused 2^32 goroutines later between ticks
                        would also need the same switch count */
  uint32_t wall_session, wall_sw, wall_sample;
  uint8_t stack_kind; /* enum stack_kind */
  bool is_main;
  void (*fn)(void *);
  void *arg;
  struct g *schedlink; /* run queue / free list link */
  struct g *waitlink;  /* mutex / wait group wait list link */
  struct g *allprev;   /* the same list backwards (under sched.lock), to unlink a freed G */
  uint32_t allg_idx;   /* its slot in sched.allgs (under sched.lock) */
  struct m *lockedm;   /* wired to this M by grt_lockhread */
  uint32_t lockcount;
  void *param;                 /* from the waker: the sudog that completed */
  _Atomic uint32_t selectdone; /* a select's sudogs: first waker wins */
  const char *waitreason;
  struct timer sleeptimer;
  uintptr_t gopc;       /* return address of the grt_go call that created it (dumps) */
  uint64_t parentid;    /* the goroutine that created it, 0: none (dumps) */
  int64_t waitsince;    /* sched_coarse_now() when it last parked (dumps) */
  int64_t blockstart;   /* nanotime() when it last parked (block profile) or queued on a
                           grt_mutex (mutex profile); 0: not timed */
  uint32_t resume_mark; /* m->in_runtime to set when it next runs (execute): 1, but 0 when
                           it resumes straight into its own code (grt_yield's tail call) */
  char name[32];
  void *asan_fake;    /* ASan fiber bookkeeping for this G's stack */
  grt_labels *labels; /* profiler labels; holds a reference (sampler/labels.c) */
};

struct prof_ring;
struct transition;
struct m {
  struct g *g0;                     /* the thread's own stack; scheduler runs here (switch.S) */
  struct transition *_Atomic trans; /* innermost transition record (switch.S, ext.c) */
  struct g *curg;                   /* the user G it runs, or NULL */
  struct p *p;                      /* P held, NULL when idle or handed off */
  struct p *nextp;                  /* P handed to it while it slept (under sched.lock) */
  struct note park;                 /* sleeps here when idle or wired to a parked G */
  struct m *schedlink;              /* idle M list */
  struct m *alllink;
  struct g *lockedg; /* G wired to this M */
  int id;
  pid_t tid;
  bool spinning;                          /* looking for work while holding a P */
  bool idle;                              /* on sched.midle (under sched.lock) */
  uint64_t rand;                          /* per-M random state (steal order, select order) */
  bool (*waitcommit)(struct g *, void *); /* park: run after the switch (g0, or the next G) */
  void *waitarg;
  void *gsignal; /* sigaltstack for signal handlers */
  size_t gsignal_size;
  void *asan_fake_g0;
  /* Foreign code (ext.c).  Written only by this M's own thread; the
   * profiler's signal handler, on the same thread, reads them. */
  _Atomic int32_t ext_depth; /* active grt_extcall frames */
  _Atomic int32_t cb_depth;  /* active grt_callback frames */
  _Atomic bool in_external;  /* extra M: no goroutine frames on this thread */
  bool is_extra;             /* borrowed by a thread grt did not create */
  struct m *extralink;       /* extra M pool */
  struct g *cbg;             /* extra M: the G its outermost callbacks run on */
  /* Liveness (sched.c, "handing off a stuck P").  in_runtime is 0 exactly
   * while the thread runs a goroutine's own code outside any callback:
   * written only by this thread (relaxed stores, compiler-ordered), read by
   * sysmon after membarrier().  handoff: 0 none, 1 sysmon is deciding,
   * 2 sysmon took this M's P; the thread clears it on its next entry. */
  _Atomic uint32_t in_runtime;
  _Atomic uint32_t handoff;
  uintptr_t hog_pcs[32]; /* GRT_DEBUG=hogs: the stack the SIGURG handler took */
  _Atomic int32_t hog_n; /* frames in hog_pcs; -1 while sysmon waits for them */
  uint64_t hog_goid;     /* the handed-off goroutine's id (sysmon only) */
  /* Profiler state, owned by the sampler layer (src/sampler/): the
   * runtime only allocates it with the M and never reads it. */
  struct prof_ring *_Atomic prof_ring; /* samples; written only by this thread's handler */
  rt_lock prof_lock;                   /* guards the fields below (writes); never in a handler */
  _Atomic pid_t prof_tid;              /* thread the M is bound to, 0 if none */
  _Atomic int prof_ktimer;             /* kernel id of that thread's CPU timer, -1: none */
  _Atomic int prof_perf_fd;            /* or its perf event's fd, -1: none */
  uint32_t prof_timer_gen;             /* session the timer belongs to, 0: no timer */
  _Atomic uint32_t prof_armed_gen;     /* prof_timer_gen, for a lock-free fast path */
};

/* A boundary between goroutine code and external code, for the unwinder.
 * EXTCALL: where the goroutine stopped (on its stack) to call out.
 * CALLBACK: where external code stopped (on g0) to call in.  Each record
 * lives in the frame of the call that pushed it; it is filled in completely
 * and then published in m->trans with a release store. */
enum transition_kind { TRANS_EXTCALL = 1, TRANS_CALLBACK = 2 };
struct transition {
  int kind;
  uintptr_t sp, pc, fp;    /* the caller's frame at the boundary */
  uintptr_t cfa;           /* the caller's SP once pc is returned to (the walk's SP) */
  uintptr_t lo, hi;        /* bounds of the stack those frames are on */
  uintptr_t saved_g0_sp;   /* CALLBACK: g0->ctx.sp to restore on return */
  struct transition *prev; /* next record outward */
};

#define RUNQ_SIZE 256

enum pstatus { P_IDLE, P_RUNNING, P_SYSCALL };

struct p {
  int id;
  _Atomic uint32_t status;      /* P_SYSCALL: its M is in external code; sysmon may retake it */
  _Atomic uint32_t syscalltick; /* bumped on every extcall, so sysmon sees a new one */
  struct m *m;                  /* M holding it, NULL if idle */
  struct p *link;               /* idle P list */
  uint32_t schedtick;           /* incremented on every schedule */
  uint32_t cbtick;              /* schedtick when a callback last got this P (sched.c) */
  _Atomic uint32_t runqhead;    /* consumers: owner and stealers (CAS) */
  _Atomic uint32_t runqtail;    /* producer: owner only */
  struct g *_Atomic runq[RUNQ_SIZE];
  struct g *_Atomic runnext; /* runs next, ahead of runq */
  struct g *gfree;           /* dead Gs with default-size stacks */
  int gfreecnt;
  uint64_t goidcache, goidcacheend; /* ids handed out in batches */
  _Atomic uint64_t created, exited; /* goroutine counts, summed for stats */
  _Atomic uint64_t ran;             /* goroutines executed */
  rt_lock timerlock;
  struct timer **timers; /* min-heap on when */
  int ntimers, timercap;
  _Atomic int64_t timer0when; /* heap[0]->when, 0 if empty; read lock-free */
};

/* After a call that parks the goroutine: keeps the call from being a tail
 * call, so the caller's frame stays on the parked stack, where dumps (and
 * debuggers) show it: grt_sleep, not just its caller. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

/* ---- switch.S ------------------------------------------------------------- */
/* Never returns; not declared noreturn so that ASan builds do not call
 * __asan_handle_no_return between start and finish of a fiber switch. */
void sched_gogo(struct g *gp);
void sched_mcall(void (*fn)(struct g *));
/* G to G without g0: saves from, calls post(from) on to's stack, resumes
 * to (which has run before).  The caller sets to->m and m->curg first. */
void sched_switch(struct g *from, struct g *to, void (*post)(struct g *));
void sched_systemstack(void (*fn)(void *), void *arg);
void sched_goentry(void);
/* Publishes rec (after storing the G's SP in rec->sp), switches to g0 at
 * g0->ctx.sp and returns fn(arg) there; back on the G's stack after. */
void *sched_extcall_tramp(void *(*fn)(void *), void *arg, struct transition *rec, struct m *mp);
/* From g0: runs fn(arg) on gp's stack starting at sp, then comes back. */
void *sched_callback_tramp(void *(*fn)(void *), void *arg, struct g *gp, uintptr_t sp);

/* ---- sched.c -------------------------------------------------------------- */
extern __thread struct g *grt_tls_g __attribute__((tls_model("initial-exec")));
/* The calling thread's g, read and written.  Code that may park and
 * resume on another thread goes through these: on aarch64 the compiler
 * would otherwise reuse the old thread's TLS address after the park
 * (arch.h, ARCH_TLS_G_FRESH).  On x86-64 they are plain accesses: taking
 * the slot's address there instead (&grt_tls_g) let UBSan's null check
 * test flags that the linker's initial-exec relaxation (add -> lea) no
 * longer sets, in executables that link the archive. */
static inline struct g *getg(void) {
#if ARCH_TLS_G_FRESH
  return *(struct g **)arch_tls_g_addr();
#else
  return grt_tls_g;
#endif
}
static inline void setg(struct g *g) {
#if ARCH_TLS_G_FRESH
  *(struct g **)arch_tls_g_addr() = g;
#else
  grt_tls_g = g;
#endif
}
/* The M of the calling thread, or NULL on a thread grt did not create. */
static inline struct m *getm(void) {
  struct g *g = getg();
  return g ? g->m : NULL;
}
/* The running goroutine, or NULL on g0 / foreign threads. */
static inline struct g *getcurg(void) {
  struct g *g = getg();
  return (g && g->m && g->m->curg == g) ? g : NULL;
}
bool sched_started(void);
/* Start-up, from grt_main (top layer): Ps, m0 bound to the calling thread,
 * the SIGSEGV handler and sysmon.  Then the caller may start what it
 * wants running before main (profiler, servers), and sched_run_main
 * starts main_fn as goroutine 1 and never returns. */
struct sched_config {
  int nprocs;
  long stack_guard_budget; /* guarded stacks allowed; -1: from vm.max_map_count */
  long max_threads;        /* Ms at most, for handing off stuck Ps (GRT_MAXTHREADS) */
  long handoff_ns;         /* a P that has not scheduled for this long is handed off */
  bool debug_hogs;         /* GRT_DEBUG=hogs: report each handoff with the stack */
  size_t main_stack;       /* the main goroutine's stack (GRT_MAINSTACK), bytes */
};
int sched_init(const struct sched_config *cfg);
void sched_run_main(int (*main_fn)(int, char **), int argc, char **argv) __attribute__((noreturn));
int sched_nprocs(void); /* 0 before sched_init */
/* Calls into the layers above: the runtime never names them.  Registered
 * once by grt_main before sched_init; every pointer may be NULL. */
struct sched_hooks {
  void (*m_started)(struct m *mp); /* on mp's thread once bound; cheap when nothing changed */
  void (*m_exiting)(struct m *mp); /* on mp's thread, before it stops being an M */
  void (*labels_retain)(grt_labels *l);
  void (*labels_release)(grt_labels *l);
  /* Contention, while sched_contention_watch says so (the block and mutex
   * profiles, src/pprof/blockprof.c).  Both run in normal code, on the
   * goroutine concerned: blocked on the one that parked for ns (reason:
   * its waitreason) once it runs again; mutex_handoff on the one that
   * unlocked a grt_mutex a waiter had waited ns for, after readying it. */
  void (*blocked)(const char *reason, int64_t ns);
  void (*mutex_handoff)(int64_t ns);
};
void sched_set_hooks(const struct sched_hooks *h);
/* Which contention the hooks want: SCHED_WATCH_BLOCK (every park timed),
 * SCHED_WATCH_MUTEX (grt_mutex waits timed, handoffs reported).  0: none,
 * and parks cost one relaxed load more. */
enum { SCHED_WATCH_BLOCK = 1, SCHED_WATCH_MUTEX = 2 };
extern _Atomic uint32_t sched_contention_watch;
void sched_mutex_handoff(int64_t ns);
/* CLOCK_MONOTONIC to within sysmon's poll (about 1 ms while a P runs),
 * for the cost of a load: for wait times in dumps. */
int64_t sched_coarse_now(void);

/* ---- entering the runtime from a goroutine's own code ----
 * Every grt call that may touch scheduler state (its M's P above all)
 * starts with RT_ENTER(): it marks the thread as in the runtime, then
 * checks, with one plain load, whether sysmon took its P while the
 * goroutine ran its own code for too long; if so it gets a P back first
 * (sched_handoff_return: an idle P, or it queues the goroutine).  The mark
 * is restored when the call returns, on whatever M it returns on.  Write
 * order: the mark, a compiler barrier, then the load (sysmon's side is a
 * membarrier(): see sched.c). */
void sched_handoff_return(struct m *mp);
static inline uint32_t rt_enter(void) {
  struct g *g = getg();
  if (!g) return 1; /* a thread grt did not create: no P to lose */
  struct m *mp = g->m;
  uint32_t saved = atomic_load_explicit(&mp->in_runtime, memory_order_relaxed);
  atomic_store_explicit(&mp->in_runtime, 1, memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst);
  if (__builtin_expect(atomic_load_explicit(&mp->handoff, memory_order_relaxed) != 0, 0))
    sched_handoff_return(mp);
  return saved;
}
static inline void rt_leave(const uint32_t *saved) {
  struct g *g = getg();
  if (!g) return;
  atomic_signal_fence(memory_order_seq_cst); /* every use of the P comes before */
  atomic_store_explicit(&g->m->in_runtime, *saved, memory_order_relaxed);
}
#define RT_ENTER() __attribute__((cleanup(rt_leave))) const uint32_t rt_saved_mark_ = rt_enter()
void sched_m_started(struct m *mp);      /* through the hooks */
void sched_labels_retain(grt_labels *l); /* through the hooks; NULL is a no-op */
void sched_labels_release(grt_labels *l);
/* Parks the current G.  commit(gp, arg) runs on g0 after the G's context is
 * saved; returning false resumes the G at once.  Returns after ready(). */
void sched_park(bool (*commit)(struct g *, void *), void *arg, const char *reason);
/* Makes a parked G runnable.  Callable from a G, g0, or any thread. */
void sched_ready(struct g *gp);                     /* runs next on this P, as Go's goready */
void sched_ready_next(struct g *gp, bool next);     /* next=false: behind the P's queue */
bool sched_unlock_commit(struct g *gp, void *lock); /* park commit: releases an rt_lock */
/* For ext.c: the blocking-call handoff and extra Ms. */
void sched_entersyscall(struct m *mp);
void sched_exitsyscall(struct m *mp, struct g *gp);
void sched_acquire_p_for_locked(struct m *mp, struct g *gp); /* extra M: wait for a P */
void sched_drop_p(struct m *mp);                             /* hand off this M's P */
struct g *sched_new_callback_g(struct m *mp);                /* a G wired to mp, not queued */
void sched_free_callback_g(struct m *mp, struct g *gp);
struct m *sched_new_extra_m(void);
void sched_sysmon_start(void);
/* The list of every M (linked by alllink; Ms are never freed). */
struct m *sched_allm(void);
/* The list of every G (linked by alllink), for a walk without locks: no G
 * is freed until the matching sched_allg_done, and a G taken off the list
 * meanwhile keeps its alllink (sched.c, free_gs). */
struct g *sched_allg(void);
void sched_allg_done(void);
/* The same Gs as an array of *n (sched.c: a G removed meanwhile may swap
 * the last one into its slot), for walks that prefetch; end it with
 * sched_allg_done as well. */
struct g *const *sched_allgs(size_t *n);
pid_t sched_sysmon_tid(void); /* 0 until sysmon runs */
/* Prints "fn+off" lines for pc (exact if leaf, else a return address with
 * sp the SP after the return), then its callers within [lo, hi)
 * (base/unwind.h, with the tables published so far).  lr: the link
 * register of an interrupted leaf (aarch64; else 0). */
void sched_print_frames(int fd, uintptr_t pc, bool leaf, uintptr_t fp, uintptr_t sp, uintptr_t lr,
                        uintptr_t lo, uintptr_t hi);

/* ---- fork.c --------------------------------------------------------------- */
/* Set in the child of fork(): the runtime is gone there, and the forking
 * thread is outside it (fork.c says what still works).  Read with a relaxed
 * load; never cleared. */
extern _Atomic int sched_forked_child;
static inline bool sched_forked(void) {
  return __builtin_expect(atomic_load_explicit(&sched_forked_child, memory_order_relaxed), 0);
}
void sched_fork_init(void); /* sched_init: registers the child handler */
/* Prints the one line (first time in this process) naming call; -ENOTSUP. */
int sched_forked_refuse(const char *call);

/* ---- stack.c -------------------------------------------------------------- */
#define STACK_DEFAULT (64 * 1024)
#define STACK_MIN (16 * 1024)
#define STACK_CALLBACK (1024 * 1024) /* callbacks from foreign threads nest deep */
#define STACK_CANARY_BYTES 256
int stack_alloc(size_t size, uintptr_t *lo, uintptr_t *hi, uint8_t *kind);
void stack_free(uintptr_t lo, uintptr_t hi, uint8_t kind);
/* For a stack whose memory stack_release_* gave back already. */
void stack_free_released(uintptr_t lo, uintptr_t hi, uint8_t kind);
void stack_release_memory(uintptr_t lo, uintptr_t hi);   /* madvise away, keep mapping */
void stack_release_batch(uintptr_t (*ranges)[2], int n); /* many at once; sorts ranges */
bool stack_canary_ok(const struct g *gp);
void stack_init(long guard_budget); /* -1: derived from vm.max_map_count */
void stack_counts(uint64_t *guarded, uint64_t *canary, uint64_t *budget);
int stack_signal_thread(struct m *mp); /* sigaltstack for this M */
/* True while the caller runs on this thread's signal stack (its M's, or on
 * a thread without an M, any sigaltstack): inside a signal handler
 * installed with SA_ONSTACK, as every grt thread has one.  Calls that park
 * or take locks the interrupted code may hold refuse there (grt_callback,
 * grt_dump).  A handler without SA_ONSTACK runs on the interrupted stack
 * and is not detected.  Async-signal-safe. */
bool stack_on_signal_stack(void);
void stack_signal_install(void); /* process-wide SIGSEGV handler */

/* ---- sync.c: helpers sync2.c shares -------------------------------------- */
rt_lock *sync_lock_of(uint32_t *p); /* a public struct's lock word as an rt_lock */
void sync_backoff(int *spins);      /* off a goroutine: yield, then sleep 50 us */
bool sync_null(const void *p, const char *call, const char *what); /* one line if NULL */

/* ---- chan.c ---------------------------------------------------------------- */
int chan_try_send(grt_chan *c, const void *ep); /* never blocks; any thread, g0 too */
size_t chan_elem_size(const grt_chan *c);
int chan_close_quiet(grt_chan *c); /* 0, or -EPIPE if closed already; no line; any thread */

/* ---- context.c: waiting on a context --------------------------------------
 * Every blocking call's _ctx form waits through these, the one mechanism
 * (docs/cancellation.md).  The waiter, on its goroutine's stack, queues
 * itself on what it waits for (a poll descriptor, a mutex, a semaphore)
 * and, still under that object's lock, calls ctx_watch: 0 means it is
 * watched, else the context is done already (that error; nothing queued).
 * When the context is cancelled or its deadline passes, wake(w, err) is
 * called with no context lock held: it takes the object's lock and, if the
 * goroutine still waits there, unqueues it with err and readies it (else
 * the wait ended another way first: nothing to do).  After its wait,
 * whatever ended it, the goroutine calls ctx_unwatch, which returns once
 * no wake() can touch w any more. */
struct ctx_wait {
  void (*wake)(struct ctx_wait *w, int err);
  struct ctx_wait *next, *prev;
  grt_ctx *ctx; /* NULL: not watched (the background context never ends) */
  int state;    /* under context.c's lock */
  _Atomic bool done;
};
int ctx_watch(grt_ctx *c, struct ctx_wait *w, void (*wake)(struct ctx_wait *w, int err));
void ctx_unwatch(struct ctx_wait *w);
/* A _ctx call's check of its argument: -EINVAL and one line naming call
 * for NULL; else the context's error (0 while it is live). */
int ctx_arg(grt_ctx *c, const char *call);
/* The context's deadline on nanotime's clock, DEADLINE_NEVER if none. */
int64_t ctx_deadline(grt_ctx *c);
/* The struct holding the ctx_wait w as its field member. */
#define CTX_WAITER(w, type, member) ((type *)(void *)((char *)(w)-offsetof(type, member)))

/* ---- netpoll.c ------------------------------------------------------------ */
bool netpoll_waiting(void); /* goroutines wait for I/O */
/* Waits up to timeout_ns (-1 forever, 0 not at all); the Gs made ready come
 * back linked by schedlink, still G_WAITING.  Returns how many. */
int netpoll(int64_t timeout_ns, struct g **list);
void netpoll_break(void); /* wakes an M blocked in netpoll */

/* ---- time.c --------------------------------------------------------------- */
/* The absolute deadline ns (>= 0) from now on nanotime's clock, saturated:
 * INT64_MAX, a deadline that never comes, when now + ns does not fit.
 * Every relative timeout becomes a deadline through here, so "wait
 * forever" may be INT64_MAX or any value that overflows. */
#define DEADLINE_NEVER INT64_MAX
static inline int64_t deadline_after(int64_t ns) {
  int64_t when;
  return __builtin_add_overflow(nanotime(), ns, &when) ? DEADLINE_NEVER : when;
}
void timer_add(struct timer *t, int64_t when); /* on the current M's P */
bool timer_del(struct timer *t);
/* Runs the due timers of pp (readied Gs go on the caller's P); returns the
 * next deadline of pp, or 0 if it has none. */
int64_t timer_run(struct p *pp, int64_t now);
void sched_timer_added(int64_t when); /* sched.c: wake an idle M if it sleeps past when */

#endif /* __ASSEMBLER__ */
#endif /* GRT_RUNTIME_H */
