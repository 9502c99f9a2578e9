/*
 * grt.h - Go-style goroutines for C.  This is the whole public API.
 *
 * Model: goroutines (G) run on OS threads (M), which run processors (P), as
 * in Go.  GRT_MAXPROCS Ps exist (default: online CPUs).  A goroutine runs
 * until it blocks (channel, mutex, wait group, sleep, I/O), yields, or
 * exits: grt never switches it away in the middle of its own code.  One
 * that blocks its thread in plain C (sleep(3), read(2), a pthread mutex;
 * after 1 ms when other work waits) or computes for more than 10 ms without
 * calling grt loses its P instead:
 * sysmon hands the P to another thread, so the others keep running.  It
 * keeps its thread, stack, errno and locks, is not interrupted (no signal),
 * and takes a P back at its next grt call.  Such goroutines hold a thread
 * each, up to GRT_MAXTHREADS (10000).  Not inside grt_callback.  Blocking
 * calls are still best made through grt_extcall, which gives the P up at
 * once; GRT_DEBUG=hogs reports each handoff with the goroutine's stack.
 *
 * Conventions:
 *   - Calls that can fail return 0 (or a count) on success and -errno on
 *     failure, or NULL with errno set.  They never abort on user error; a
 *     misuse also prints one line on stderr that names the call.
 *   - A NULL where a call needs an object (a mutex, a wait group, a
 *     channel, a function, a buffer of n > 0 bytes, a struct to fill) is
 *     such a misuse: -EINVAL (or NULL with errno EINVAL) and the line; a
 *     call that returns nothing prints the line and returns.  Pointers
 *     that may be NULL say so.
 *   - "Outside the runtime" means on a thread that is not running a goroutine
 *     (before grt_main, or on a thread grt did not create).  Each call below
 *     says what it does there.
 *   - Build with -fno-omit-frame-pointer (grt.pc and the grt::grt CMake
 *     target carry it): the profiler and stack dumps walk frame pointers.
 *   - Build with -fstack-clash-protection (grt.pc and grt::grt carry it
 *     too): a goroutine stack has a 4 KiB guard page, and only code that
 *     probes each page of a larger frame is sure to hit it on overflow
 *     ("goroutine N stack overflow", then abort) instead of writing over
 *     the memory below, another goroutine's stack.
 *   - fork(): as in Go, the runtime supports only fork + exec.  The child
 *     of a fork without exec has one thread and no runtime: the forking
 *     thread is outside the runtime there (grt_id() is 0).  Plain C works:
 *     grt_extcall calls fn directly (exec from it is fine), grt_sleep
 *     sleeps the thread.  Calls that need the scheduler, its threads or its
 *     poller return -ENOTSUP (NULL with errno ENOTSUP) and print one line
 *     the first time: grt_go, grt_callback, grt_read, grt_write,
 *     grt_close, grt_accept, grt_listen_tcp, grt_connect_tcp, grt_wait_fd,
 *     grt_listen_addr, grt_connect_addr, grt_accept_addr, grt_sendto,
 *     grt_recvfrom, their _ctx forms, grt_dump,
 *     grt_prof_start, grt_read_stats.  (grt_pprof_serve still starts a
 *     server there, whose profile and goroutine pages are refused.)
 *     Channel calls act as outside a goroutine (send, recv and select:
 *     -EPERM); a goroutine they would wake stays asleep, as no goroutine
 *     runs in the child.  grt_exit, or the return of the function of the
 *     goroutine that forked, exits the child with status 0 (main_fn's
 *     return: with its value, as always).  A mutex, wait group or channel
 *     that another thread held at the fork stays held in the child, as
 *     with pthreads.  SIGQUIT gets its default action in the child.
 */
#ifndef GRT_H
#define GRT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GRT_API __attribute__((visibility("default")))
#else
#define GRT_API
#endif

/* ---- Starting the runtime ---------------------------------------------- */

/*
 * Starts the runtime on the calling thread and runs main_fn(argc, argv) as
 * the first goroutine.  As in Go, when main_fn returns the process exits with
 * its value (through exit(3), so atexit handlers run and stdio is flushed);
 * other goroutines are not waited for.  grt_main therefore returns only when
 * the runtime could not start: -EBUSY if it was already started, -ENOMEM, or
 * -EAGAIN if a thread could not be created.
 *
 * Environment: GRT_MAXPROCS=n (1..1024) sets the number of Ps (default:
 * online CPUs).  main_fn runs on a large stack, as a C main expects: 8 MiB
 * by default, GRT_MAINSTACK=bytes (64 KiB..1 GiB), mapped MAP_NORESERVE so
 * only the pages it touches cost memory.  A value that is not a whole
 * number in range prints one line on stderr and the default is used.
 *
 * Typical use:  int main(int c, char **v) { return grt_main(real_main, c, v); }
 */
GRT_API int grt_main(int (*main_fn)(int argc, char **argv), int argc, char **argv);

/* ---- Goroutines --------------------------------------------------------- */

typedef struct grt_go_opts {
  size_t stack_size; /* bytes; 0 = default (64 KiB).  Rounded up to pages, min 16 KiB. */
  const char *name;  /* shown in stack dumps; copied (up to 31 bytes); may be NULL */
} grt_go_opts;

/* Starts fn(arg) in a new goroutine.  0, -EPERM outside the runtime (before
 * grt_main), -EINVAL if fn is NULL, -ENOMEM if no stack could be had.
 * The new goroutine runs soon, usually next on the caller's P.  grt_go may
 * yield: when the caller's run queue is half full, the caller lets its P run
 * queued goroutines first, so a spawning loop cannot outrun them without
 * bound.  From a thread that is not a goroutine (after grt_main started),
 * the goroutine is queued on the global run queue. */
GRT_API int grt_go(void (*fn)(void *), void *arg);
GRT_API int grt_go_with(const grt_go_opts *opts, void (*fn)(void *), void *arg);

/* Lets other goroutines run; the caller is requeued behind them.  Outside a
 * goroutine it calls sched_yield(2). */
GRT_API void grt_yield(void);

/* Ends the calling goroutine (after grt_unlock_thread, if it was locked).
 * From the main goroutine it exits the process with status 0.  Outside a
 * goroutine it prints an error and calls pthread_exit(3).  Inside a
 * grt_callback, on any goroutine (the main one too), it is a fatal error
 * (the external caller would never get control back): return from the
 * callback instead. */
GRT_API void grt_exit(void) __attribute__((noreturn));

/* The calling goroutine's id (the main goroutine is 1); 0 outside one. */
GRT_API uint64_t grt_id(void);

/* Number of Ps (GRT_MAXPROCS).  Before grt_main: what it will be. */
GRT_API int grt_maxprocs(void);

/* Parks the goroutine for at least ns nanoseconds; the M runs other
 * goroutines meanwhile.  ns <= 0 yields.  An ns whose end lies past the
 * clock's range (INT64_MAX, or any value that would overflow now + ns)
 * parks forever.  Outside a goroutine it sleeps the thread with
 * nanosleep(2). */
GRT_API void grt_sleep(int64_t ns);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC), the clock of grt_sleep. */
GRT_API int64_t grt_nanotime(void);

/* Wires the calling goroutine to its OS thread until the matching
 * grt_unlock_thread (calls nest, as in Go).  While wired, no other goroutine
 * runs on that thread, and this goroutine runs on no other thread.  A
 * goroutine that exits while wired is unwired first.  Outside a goroutine:
 * no effect. */
GRT_API void grt_lock_thread(void);
GRT_API void grt_unlock_thread(void);

/* ---- Channels ----------------------------------------------------------- */

typedef struct grt_chan grt_chan;

/* A channel of elements of elem_size bytes (0 allowed, at most 65536) with a
 * buffer of cap elements (0: unbuffered).  NULL with errno EINVAL (and one
 * line) for an elem_size over 65536 or a buffer that cannot exist: cap over
 * LONG_MAX, or cap * elem_size over 2^48 bytes (as Go); NULL with errno
 * ENOMEM when out of memory.  May be called from any thread. */
GRT_API grt_chan *grt_chan_make(size_t elem_size, size_t cap);

/* Copies *elem into the channel, blocking until a receiver or buffer slot
 * takes it.  0; -EPIPE if the channel is (or becomes) closed, a misuse
 * (Go panics) with its one line; -EINVAL for a NULL channel or NULL elem
 * (elem may be NULL when elem_size is 0); -EPERM outside a goroutine. */
GRT_API int grt_chan_send(grt_chan *c, const void *elem);

/* Receives into *elem (may be NULL to discard).  1 got a value; 0 the
 * channel is closed and drained (*elem is zeroed); -EINVAL for a NULL
 * channel; -EPERM outside a goroutine. */
GRT_API int grt_chan_recv(grt_chan *c, void *elem);

/* Closes the channel: blocked receivers get 0, blocked senders -EPIPE.
 * 0; -EPIPE if already closed (a misuse, with its line); -EINVAL for NULL.
 * Any thread. */
GRT_API int grt_chan_close(grt_chan *c);

/* Number of buffered elements, and the buffer capacity.  -EINVAL for NULL. */
GRT_API long grt_chan_len(grt_chan *c);
GRT_API long grt_chan_cap(grt_chan *c);

/* Reference counting, for a channel shared by several owners (goroutines,
 * a timer, a context): grt_chan_make returns it with one reference;
 * grt_chan_retain adds one and returns c (NULL with errno EINVAL and one
 * line for NULL or a released channel); grt_chan_release drops one, and the
 * last frees the channel.  If goroutines are still blocked on it then, it
 * prints an error and leaks the channel instead of freeing memory they
 * point into.  Releasing more than was retained is a misuse (one line, if
 * it can still be seen).  NULL is a no-op.  Any thread. */
GRT_API grt_chan *grt_chan_retain(grt_chan *c);
GRT_API void grt_chan_release(grt_chan *c);

/* The same as grt_chan_release: drops the creator's reference. */
GRT_API void grt_chan_free(grt_chan *c);

enum { GRT_RECV = 1, GRT_SEND = 2 };

typedef struct grt_select_case {
  grt_chan *chan; /* NULL: the case is never ready (as a nil channel in Go) */
  int dir;        /* GRT_RECV or GRT_SEND */
  void *elem;     /* value to send, or where to receive (may be NULL) */
  int ok;         /* out, for a taken GRT_RECV case: 1 value, 0 closed */
} grt_select_case;

/* Waits until one of the n cases can proceed and performs it; when several
 * are ready one is chosen uniformly at random.  Returns the index of the
 * case taken, or -EAGAIN if none is ready and block is 0 (a value no error
 * of grt_select shares; it was -1, which is -EPERM).  A taken GRT_SEND case
 * on a closed channel returns its index with ok = 0 (as Go would panic).
 * -EINVAL for bad arguments (n < 0, n > 65536, cases NULL with n > 0, bad
 * dir), -EPERM outside a goroutine.  With n == 0 and block set, the
 * goroutine blocks forever, as Go's empty select. */
GRT_API int grt_select(grt_select_case *cases, int n, int block);

/*
 * Timers and tickers that are channels (Go's time.Timer, time.Ticker and
 * time.After).  A pending timer costs a slot in a P's timer heap, no
 * goroutine.  Each has a channel of one int64_t: when it fires it sends
 * grt_nanotime() then, without blocking (a tick that finds a value still
 * unread is dropped, as in Go).  The channel belongs to the timer: do not
 * close it; it is freed with the timer unless retained (grt_chan_retain).
 * Times are in ns; a duration <= 0 fires at once, INT64_MAX never.
 *
 * grt_timer_make(ns) fires once, ns from now; grt_ticker_make(period) every
 * period (> 0, else NULL with EINVAL), from its start, without drift.  Both
 * return NULL with errno EPERM (and one line) outside a goroutine, ENOMEM.
 * grt_timer_stop: 1 if it stopped a pending timer (no value will come from
 * that arming), 0 if it had fired or was stopped; -EINVAL for NULL.
 * grt_timer_reset(t, ns): stops it as grt_timer_stop would and arms it
 * again, ns from now (a ticker: its period from now when ns <= 0); returns
 * what the stop did.  grt_timer_free stops it and frees it (NULL: no-op).
 * grt_after(ns): a channel that receives one value ns from now, with one
 * reference for the caller, who releases it (grt_chan_release) when done;
 * its timer frees itself once it has fired.  NULL with errno as above.
 */
typedef struct grt_timer grt_timer;
GRT_API grt_timer *grt_timer_make(int64_t ns);
GRT_API grt_timer *grt_ticker_make(int64_t period_ns);
GRT_API grt_chan *grt_timer_chan(grt_timer *t); /* NULL with EINVAL for NULL */
GRT_API int grt_timer_stop(grt_timer *t);
GRT_API int grt_timer_reset(grt_timer *t, int64_t ns);
GRT_API void grt_timer_free(grt_timer *t);
GRT_API grt_chan *grt_after(int64_t ns);

/* ---- Cancellation contexts (Go's context, without values) ------------------
 *
 * A context is a node in a tree.  It is done once it is cancelled
 * (grt_ctx_cancel), once its deadline passes, or once an ancestor is done;
 * its done channel is then closed, so grt_select can wait on it with
 * others, and every blocking call's _ctx form (grt_read_ctx, ...) returns
 * its error: -ECANCELED after a cancel, -ETIMEDOUT after a deadline.  This
 * is grt's one convention for ending a wait early: each call that takes a
 * timeout_ns also has a form that takes a context instead (the timeout is
 * the context's deadline), and a context already done fails such a call at
 * once, before it tries anything, as a past deadline does in Go
 * (docs/cancellation.md says why).
 *
 * grt_ctx_background(): the root, never done, never freed (its done
 * channel never closes); NULL with ENOMEM only if its channel cannot be
 * made.  Any thread.
 * grt_ctx_with_cancel(parent), grt_ctx_with_deadline(parent, deadline_ns)
 * (absolute, on grt_nanotime's clock), grt_ctx_with_timeout(parent, ns)
 * (relative; ns <= 0 is already past): a new child of parent with one
 * reference, the caller's.  A child's deadline is the earlier of its own
 * and its parent's; a deadline in the past, or a parent already done,
 * gives a child that is done already (with the parent's error, or
 * -ETIMEDOUT).  A pending deadline costs a slot in a P's timer heap, no
 * goroutine; a deadline past the clock's range (INT64_MAX) never comes.
 * NULL with errno EINVAL (and one line) for a NULL parent, ENOMEM, and
 * for a deadline earlier than the parent's, EPERM (and one line) outside a
 * goroutine, as grt_timer_make.
 * grt_ctx_cancel(c): c and every descendant go done with -ECANCELED,
 * their done channels close and every waiter on them wakes.  1 if this
 * call made c done, 0 if it was done already; -EINVAL (and one line) for
 * NULL or the background context.  Any thread.
 * grt_ctx_done(c): the done channel (elements of 0 bytes), owned by c:
 * valid while c is referenced, or longer with grt_chan_retain.  Do not
 * close it.  NULL with errno EINVAL (and one line) for NULL.
 * grt_ctx_err(c): 0 while c is live, then -ECANCELED or -ETIMEDOUT, never
 * changing again; -EINVAL (and one line) for NULL.  Lock-free.
 * grt_ctx_deadline(c, &d): 1 and the deadline in *d (d may be NULL), 0 if
 * c has none; -EINVAL (and one line) for a NULL c.
 * References: grt_ctx_retain(c) adds one and returns c (for a goroutine
 * that may outlive the creator's use); grt_ctx_release(c) drops one.  When
 * the last is dropped, a context still live is cancelled (its children go
 * done) and its memory goes once its timer, if any, has let go of it.
 * grt_ctx_free(c) is the creator's "defer cancel()": grt_ctx_cancel then
 * grt_ctx_release.  Cancelling, or freeing, while a deadline timer fires
 * on another thread is safe.  NULL and the background context are no-ops
 * for both; releasing more than was held prints one line (if it can still
 * be seen).  Any thread.  A context must stay referenced while a call
 * waits on it.
 */
typedef struct grt_ctx grt_ctx;
GRT_API grt_ctx *grt_ctx_background(void);
GRT_API grt_ctx *grt_ctx_with_cancel(grt_ctx *parent);
GRT_API grt_ctx *grt_ctx_with_deadline(grt_ctx *parent, int64_t deadline_ns);
GRT_API grt_ctx *grt_ctx_with_timeout(grt_ctx *parent, int64_t timeout_ns);
GRT_API int grt_ctx_cancel(grt_ctx *c);
GRT_API grt_chan *grt_ctx_done(grt_ctx *c);
GRT_API int grt_ctx_err(grt_ctx *c);
GRT_API int grt_ctx_deadline(grt_ctx *c, int64_t *deadline_ns);
GRT_API grt_ctx *grt_ctx_retain(grt_ctx *c);
GRT_API void grt_ctx_release(grt_ctx *c);
GRT_API void grt_ctx_free(grt_ctx *c);
/* grt_sleep that ctx may end early: 0 after the full ns, or the context's
 * error (-ECANCELED, -ETIMEDOUT) when it is done first (or already: then
 * it does not sleep); -EINVAL (and one line) for a NULL ctx.  A pending
 * sleep costs a timer-heap slot, as grt_sleep's.  Outside a goroutine the
 * thread sleeps in slices of at most 10 ms, checking the context. */
GRT_API int grt_sleep_ctx(int64_t ns, grt_ctx *ctx);

/* ---- Synchronization ---------------------------------------------------- */

/* A goroutine mutex: a blocked goroutine parks, its M runs others.
 * Zero-initialized (or GRT_MUTEX_INIT) means unlocked.  Not recursive.
 * Outside a goroutine, lock spins with backoff (it still excludes). */
typedef struct grt_mutex {
  uint32_t state;
  uint32_t waitlock;
  void *head, *tail;
} grt_mutex;
#define GRT_MUTEX_INIT                                                                             \
  { 0, 0, 0, 0 }

GRT_API void grt_mutex_lock(grt_mutex *m);
GRT_API int grt_mutex_trylock(grt_mutex *m); /* 1 if acquired (0 for NULL) */
/* Unlocking an unlocked mutex prints an error and does nothing. */
GRT_API void grt_mutex_unlock(grt_mutex *m);

/* A wait group, as Go's sync.WaitGroup.  Zero-initialized (or GRT_WG_INIT).
 * A counter that would go negative prints an error and is left at 0.
 * Outside a goroutine, wait polls with backoff. */
typedef struct grt_wg {
  int64_t count;
  uint32_t waitlock;
  void *waiters;
} grt_wg;
#define GRT_WG_INIT                                                                                \
  { 0, 0, 0 }

GRT_API void grt_wg_add(grt_wg *wg, int n);
GRT_API void grt_wg_done(grt_wg *wg);
GRT_API void grt_wg_wait(grt_wg *wg);

/* Locks m, giving up after ns nanoseconds: 0 if acquired, -ETIMEDOUT if
 * not (ns <= 0 only tries), -EINVAL for NULL.  A deadline that overflows
 * (e.g. INT64_MAX) never comes: that is grt_mutex_lock.  A goroutine
 * parks (FIFO with the other waiters); outside a goroutine it spins with
 * backoff until the deadline. */
GRT_API int grt_mutex_lock_timeout(grt_mutex *m, int64_t ns);
/* The context form: 0 once acquired, or the context's error (-ECANCELED,
 * -ETIMEDOUT) when it is done first (or already: then it does not try);
 * -EINVAL (and one line) for a NULL m or ctx.  The waiter leaves the
 * queue when woken by the context.  Outside a goroutine it spins with
 * backoff, checking the context. */
GRT_API int grt_mutex_lock_ctx(grt_mutex *m, grt_ctx *ctx);

/* A reader/writer mutex, as Go's sync.RWMutex: any number of readers or
 * one writer.  Writer-preferring: once a writer waits, new readers wait
 * too, until that writer has had the lock; a writer's unlock lets every
 * reader then waiting in.  Zero-initialized (or GRT_RWMUTEX_INIT) means
 * unlocked.  Not recursive: a reader that read-locks again while a writer
 * waits deadlocks, as in Go.  Unlock or runlock of a mutex not so held
 * prints an error and does nothing.  Outside a goroutine, lock and rlock
 * spin with backoff (they still exclude, but such a spinning writer does
 * not hold readers back). */
typedef struct grt_rwmutex {
  uint32_t waitlock;
  uint32_t writer;     /* a writer holds it */
  int32_t readers;     /* readers holding it */
  int32_t wwaiting;    /* writers parked */
  void *rhead;         /* parked readers */
  void *whead, *wtail; /* parked writers, FIFO */
} grt_rwmutex;
#define GRT_RWMUTEX_INIT                                                                           \
  { 0, 0, 0, 0, 0, 0, 0 }

GRT_API void grt_rwmutex_lock(grt_rwmutex *rw);
GRT_API int grt_rwmutex_trylock(grt_rwmutex *rw); /* 1 if acquired (0 for NULL) */
GRT_API void grt_rwmutex_unlock(grt_rwmutex *rw);
GRT_API void grt_rwmutex_rlock(grt_rwmutex *rw);
GRT_API int grt_rwmutex_tryrlock(grt_rwmutex *rw); /* 1 if acquired (0 for NULL) */
GRT_API void grt_rwmutex_runlock(grt_rwmutex *rw);

/* A condition variable, as Go's sync.Cond.  Zero-initialized (or
 * GRT_COND_INIT).  grt_cond_wait(c, m) unlocks m, waits for a signal or
 * broadcast, and locks m again before it returns; the caller must hold
 * m, a misuse the call cannot detect (grt_mutex has no owner): its
 * unlock of m prints the unlocked-mutex line if m was not locked at all.
 * As in Go, wake-ups are FIFO and never spurious, but the condition must
 * still be checked in a loop.  signal wakes the longest waiter, broadcast
 * all; both are no-ops with no waiter and need not hold m.  Outside a
 * goroutine, wait spins with backoff until signalled (it keeps its place
 * in the FIFO). */
typedef struct grt_cond {
  uint32_t waitlock;
  uint32_t wait_ticket;   /* the next waiter's ticket */
  uint32_t notify_ticket; /* every ticket below this was woken */
  void *head, *tail;      /* parked goroutines, by ticket */
} grt_cond;
#define GRT_COND_INIT                                                                              \
  { 0, 0, 0, 0, 0 }

GRT_API void grt_cond_wait(grt_cond *c, grt_mutex *m);
GRT_API void grt_cond_signal(grt_cond *c);
GRT_API void grt_cond_broadcast(grt_cond *c);

/* Once, as Go's sync.Once: grt_once_do calls fn(arg) only the first time
 * it is called for o; every other call, concurrent or later, returns only
 * after that first fn returned.  Zero-initialized (or GRT_ONCE_INIT).
 * Returns 0, or -EINVAL for a NULL o or fn.  fn calling grt_once_do on
 * the same o deadlocks, as in Go.  (There is no panic in C: a fn that
 * never returns keeps the others waiting.)  Outside a goroutine the
 * others spin with backoff. */
typedef struct grt_once {
  uint32_t done;
  grt_mutex m;
} grt_once;
#define GRT_ONCE_INIT                                                                              \
  { 0, GRT_MUTEX_INIT }

GRT_API int grt_once_do(grt_once *o, void (*fn)(void *), void *arg);

/* A counting semaphore (Go's x/sync/semaphore, unweighted capacity):
 * count units; acquire(n) takes n, waiting until n are there; release(n)
 * returns n.  Waiters are served FIFO: one waiting for many holds back
 * later ones waiting for few.  GRT_SEM_INIT(n) or grt_sem_init starts it
 * at n units (zero-initialized: 0).  acquire and release return 0, or
 * -EINVAL for a NULL s or n < 0 (release: or a count that would pass
 * INT64_MAX); n == 0 is a no-op.  tryacquire returns 1 if it took n at
 * once, 0 if not (or on misuse).  Outside a goroutine, acquire spins with
 * backoff (not queued: goroutines waiting for units go first). */
typedef struct grt_sem {
  int64_t count;
  uint32_t waitlock;
  void *head, *tail;
} grt_sem;
#define GRT_SEM_INIT(n)                                                                            \
  { (n), 0, 0, 0 }

GRT_API int grt_sem_init(grt_sem *s, int64_t n);
GRT_API int grt_sem_acquire(grt_sem *s, int64_t n);
GRT_API int grt_sem_tryacquire(grt_sem *s, int64_t n);
GRT_API int grt_sem_release(grt_sem *s, int64_t n);
/* acquire, waiting at most until ctx is done: 0 with the n units, or the
 * context's error (none taken; a context already done fails at once, even
 * if the units are there); -EINVAL for a NULL ctx as for acquire.  A
 * waiter the context removes from the head of the queue lets the ones
 * behind it take what is there.  Outside a goroutine it spins, checking
 * the context. */
GRT_API int grt_sem_acquire_ctx(grt_sem *s, int64_t n, grt_ctx *ctx);

/* ---- Foreign code --------------------------------------------------------- */

/*
 * Runs external C code fn(arg) on this thread's system stack and returns its
 * result (Go's cgocall).  While fn runs, the goroutine's P may be handed to
 * another thread, so a blocking fn never stalls other goroutines.  fn may
 * call back into goroutine code with grt_callback, to any depth.  Outside a
 * goroutine it simply returns fn(arg).  NULL fn: NULL with errno EINVAL.
 */
GRT_API void *grt_extcall(void *(*fn)(void *), void *arg);

/*
 * Runs goroutine code fn(arg) from external code and returns its result
 * (Go's cgocallback).  Works from external code inside grt_extcall (on the
 * same goroutine's stack), from any thread grt did not create (which
 * borrows an "extra M" for the call, kept bound to the thread until it
 * exits), and from a goroutine (a plain call).  Nesting is bounded only by
 * stack: each level takes a few hundred bytes of the goroutine's stack
 * (1 MiB for callbacks from foreign threads).  fn may do anything
 * a goroutine does: spawn, use channels, sleep, lock, extcall again.
 * Errors, with NULL returned and errno set: EPERM before grt_main started
 * the runtime, or on a runtime thread outside any extcall; EDEADLK from a
 * signal handler running on a sigaltstack (as every grt thread's handlers
 * do); ENOMEM; EINVAL for a NULL fn.  (fn may itself return NULL: check
 * errno only when a NULL result is unexpected.)
 */
GRT_API void *grt_callback(void *(*fn)(void *), void *arg);

/* ---- Network I/O --------------------------------------------------------- */

/*
 * Sockets whose waits park the goroutine, not the thread: the runtime makes
 * every fd these calls touch non-blocking and registers it with one epoll
 * instance, which the scheduler polls, as Go's netpoller does.  Timeouts
 * are relative, in nanoseconds: 0 only looks (-ETIMEDOUT unless the call
 * can proceed at once); a negative one waits forever, and so does INT64_MAX
 * or any one whose deadline would overflow the clock.  Errors come
 * back as -errno: -ETIMEDOUT when the timeout passes first; -EBADF when
 * another goroutine closes the fd (grt_close) while this one waits on it;
 * -EBUSY when another goroutine already waits to read (or to write) the
 * same fd.  Outside a goroutine the calls block the thread (poll(2)).
 * Host names are resolved with getaddrinfo, as external code.
 *
 * Only what epoll can wait on: sockets, pipes, character devices.  An fd
 * that is a regular file, a directory or a block device is refused with
 * -EPERM and one line, before anything changes: its flags stay as they
 * were (use read(2)/write(2) for those, through grt_extcall if they may
 * block).  A NULL buf with n > 0 is -EINVAL.
 */
GRT_API int grt_listen_tcp(const char *host, int port, int backlog); /* fd or -errno */
GRT_API int grt_accept(int lfd);                                     /* fd or -errno */
GRT_API int grt_connect_tcp(const char *host, int port, int64_t timeout_ns);
/* Up to n bytes; 0 at end of stream. */
GRT_API ssize_t grt_read(int fd, void *buf, size_t n, int64_t timeout_ns);
/* All n bytes, or -errno; if the error or timeout comes after some bytes
 * went out, that count instead. */
GRT_API ssize_t grt_write(int fd, const void *buf, size_t n, int64_t timeout_ns);
GRT_API int grt_close(int fd); /* wakes waiters with -EBADF, then closes */

/* The context forms of the calls above and below (and of grt_accept,
 * which has no timeout): the same, but a wait lasts until the fd is ready
 * or ctx is done, and then the call returns the context's error
 * (-ECANCELED, or -ETIMEDOUT for its deadline) where it would return
 * -ETIMEDOUT (grt_write: the count, if some bytes went out).  A context
 * already done fails the call at once, before any I/O.  A NULL ctx is
 * -EINVAL with one line.  Outside a goroutine the thread polls the fd in
 * slices of at most 10 ms, checking the context between them.
 * grt_connect_tcp_ctx resolves the host first (getaddrinfo, as external
 * code), which the context does not interrupt; the connects it tries
 * then share the context, and none is tried once it is done. */
GRT_API ssize_t grt_read_ctx(int fd, void *buf, size_t n, grt_ctx *ctx);
GRT_API ssize_t grt_write_ctx(int fd, const void *buf, size_t n, grt_ctx *ctx);
GRT_API int grt_accept_ctx(int lfd, grt_ctx *ctx);                         /* fd or -errno */
GRT_API int grt_connect_tcp_ctx(const char *host, int port, grt_ctx *ctx); /* fd or -errno */

/*
 * Sockets from a sockaddr: AF_INET, AF_INET6 or AF_UNIX (path or abstract
 * name), type SOCK_STREAM or SOCK_DGRAM.  sa and len as for bind(2) and
 * connect(2).  A NULL sa, a type that is neither, or a len that is no
 * sockaddr's is -EINVAL; another family is -EAFNOSUPPORT (each with one
 * line).  The fds are non-blocking, close-on-exec and registered, as
 * grt_listen_tcp's are; close them with grt_close.
 *
 * grt_listen_addr binds (with SO_REUSEADDR for IP) and, for SOCK_STREAM,
 * listens (backlog <= 0: 128).  For SOCK_DGRAM the bound socket is what
 * grt_recvfrom and grt_sendto take.  A unix path must not exist yet
 * (-EADDRINUSE): unlink it before, and after the close.
 * grt_connect_addr connects, waiting up to timeout_ns for a stream
 * connection; a datagram socket is connected at once (it then sends to,
 * and receives from, that peer only).  A unix stream listener whose
 * backlog is full: -EAGAIN, at once.
 * grt_accept_addr is grt_accept that also stores the peer's address, as
 * accept(2) does: peer may be NULL (then len is ignored); otherwise *len
 * is peer's size on entry and the address's length on return (a NULL len
 * is -EINVAL).  It waits forever; grt_close on lfd ends the wait (-EBADF).
 */
GRT_API int grt_listen_addr(const struct sockaddr *sa, socklen_t len, int type,
                            int backlog); /* fd or -errno */
GRT_API int grt_connect_addr(const struct sockaddr *sa, socklen_t len, int type,
                             int64_t timeout_ns);                            /* fd or -errno */
GRT_API int grt_accept_addr(int lfd, struct sockaddr *peer, socklen_t *len); /* fd or -errno */
/* One datagram (or, on a stream socket, up to n bytes): the count sent.
 * to may be NULL (with tolen 0) on a connected socket; NULL with tolen > 0
 * is -EINVAL.  Waits up to timeout_ns for room in the send buffer. */
GRT_API ssize_t grt_sendto(int fd, const void *buf, size_t n, const struct sockaddr *to,
                           socklen_t tolen, int64_t timeout_ns);
/* One datagram, cut at n bytes (the rest is lost, as with recvfrom(2)):
 * its length.  from may be NULL; otherwise *fromlen is from's size on
 * entry and the sender's address length on return (a NULL fromlen is
 * -EINVAL).  Unnamed unix senders give a length of sizeof(sa_family_t). */
GRT_API ssize_t grt_recvfrom(int fd, void *buf, size_t n, struct sockaddr *from, socklen_t *fromlen,
                             int64_t timeout_ns);
/* Their context forms, as grt_read_ctx above. */
GRT_API int grt_connect_addr_ctx(const struct sockaddr *sa, socklen_t len, int type,
                                 grt_ctx *ctx); /* fd or -errno */
GRT_API int grt_accept_addr_ctx(int lfd, struct sockaddr *peer, socklen_t *len,
                                grt_ctx *ctx); /* fd or -errno */
GRT_API ssize_t grt_sendto_ctx(int fd, const void *buf, size_t n, const struct sockaddr *to,
                               socklen_t tolen, grt_ctx *ctx);
GRT_API ssize_t grt_recvfrom_ctx(int fd, void *buf, size_t n, struct sockaddr *from,
                                 socklen_t *fromlen, grt_ctx *ctx);

/*
 * Waiting on any fd, for libraries that do their own non-blocking I/O
 * (OpenSSL, libpq, libcurl, c-ares): grt_wait_fd parks the goroutine until
 * fd is readable (GRT_READABLE), writable (GRT_WRITABLE) or, with both
 * bits, either, through the same netpoller as the calls above.  It returns
 * the mask of the asked-for directions that are ready now (> 0; a hangup
 * or error on the fd counts as both, as poll(2) would let a read or write
 * see it), -ETIMEDOUT when the timeout (as above: 0 only looks, negative
 * or INT64_MAX is forever) passes first, -EBADF when the fd is bad or
 * another goroutine grt_closes it meanwhile, -EBUSY when another goroutine
 * already waits on it for the same direction.  Readiness is level, as with
 * poll(2): the answer is checked against the fd's state at return, so a
 * ready mask is never stale, but another thread may still take the data
 * first; the caller's read or write must handle EAGAIN.  Like grt_read it
 * registers the fd: it makes the fd non-blocking (O_NONBLOCK stays set;
 * nothing else changes) and refuses what epoll cannot wait on (-EPERM, as
 * above).  events 0 or with other bits: -EINVAL and one line.  Outside a
 * goroutine it blocks the thread in poll(2) and leaves the fd as it is.
 */
#define GRT_READABLE 1
#define GRT_WRITABLE 2
GRT_API int grt_wait_fd(int fd, int events, int64_t timeout_ns);
/* The context form: the ready mask, or the context's error when it is done
 * first (or already); else as grt_wait_fd. */
GRT_API int grt_wait_fd_ctx(int fd, int events, grt_ctx *ctx);

/* ---- Signals as channels (Go's signal.Notify) ----------------------------
 *
 * grt_signal_notify(c, sig): from now on each sig is sent to c (a channel of
 * int: the signal's number), without blocking (a full channel misses it,
 * so give it a buffer), instead of the signal's action: a notified SIGINT
 * no longer ends the process.  A dedicated thread does the sending; the
 * handler only writes to a pipe.  c gets a reference (grt_chan_retain),
 * dropped by grt_signal_stop.  0; -EINVAL for a NULL channel or a signal
 * that cannot be delivered (SIGKILL, SIGSTOP, SIGPROF, SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE), with one line; -ENOSPC past 16 channels per signal.
 * Any thread.  A signal blocked in every thread never arrives: grt's
 * threads start with the signal mask of the thread that called grt_main,
 * less the signals grt needs (SIGPROF, SIGSEGV, SIGBUS, SIGURG, SIGQUIT).
 * grt_signal_stop(c): c gets no more signals; a signal no channel wants
 * any more gets back the action it had.  Returns how many signals c was
 * registered for; -EINVAL for NULL.
 */
GRT_API int grt_signal_notify(grt_chan *c, int sig);
GRT_API int grt_signal_stop(grt_chan *c);

/* ---- Goroutine dumps and the /debug/pprof server -------------------------- */

/*
 * Writes every goroutine to fd as Go's traceback does: "goroutine N
 * [state]:" (running, runnable, chan receive, sleep, IO wait, extcall, ...;
 * with ", M minutes" once a parked goroutine has waited a minute) then its
 * frames, function and file:line, and "created by fn in goroutine P" with
 * the position of the grt_go call.  Parked goroutines are unwound from
 * their saved context.  SIGQUIT prints the same on stderr and exits
 * with status 2, as in Go, also when the process started with SIGQUIT
 * ignored; a handler the program set before grt_main, or SIG_IGN set
 * after it, is left alone.  0 or -errno: -EBADF for a bad fd; -EDEADLK
 * (and one stderr line), writing nothing, when called from a signal
 * handler running on a sigaltstack (as every grt thread's handlers do with
 * SA_ONSTACK), where taking the snapshot could deadlock or crash.  A
 * handler installed without SA_ONSTACK is not detected: do not dump there.
 */
GRT_API int grt_dump(int fd);

/*
 * Serves Go's net/http/pprof endpoints on addr ("host:port"; NULL means
 * "127.0.0.1:6060"), so `go tool pprof http://host:port/debug/pprof/profile`
 * works: /debug/pprof/ (an index), /debug/pprof/profile?seconds=N&hz=H (a
 * gzipped CPU profile), /debug/pprof/goroutine?debug=0|1|2.  The variable
 * GRT_PPROF_ADDR=host:port starts it from grt_main.  0, or -errno (-EBUSY if
 * already serving, -EINVAL for a bad addr, -ENOTSUP in a grt built with
 * -DGRT_HTTP=OFF, which leaves the server and libmicrohttpd out).
 * Limits, so that slow or hostile clients cannot lock it: up to half of
 * RLIMIT_NOFILE connections (32..4096), one thread each; each must send its
 * whole request within GRT_PPROF_REQUEST_TIMEOUT seconds (1..3600, default
 * 5; read when the server starts) of connecting or of its previous reply,
 * and one idle for 10 s is closed (both without a reply; a request being
 * answered has no deadline); request line and headers at most 32 KiB (414
 * or 431), at most 64 query arguments (414).
 */
GRT_API int grt_pprof_serve(const char *addr);

/* ---- CPU profiler -------------------------------------------------------- */

/*
 * A sampling CPU profiler built into the runtime.  Every thread running
 * goroutines (and every foreign thread while it is inside grt_callback)
 * raises SIGPROF hz times a second of its CPU time; the handler records the
 * stack without locks or allocation, and a collector thread aggregates the
 * samples.  The profile is written in pprof's format (gzipped
 * profile.proto), readable by `go tool pprof`, Pyroscope and Parca, with
 * sample types samples/count and cpu/nanoseconds.
 *
 * Two engines (GRT_CPUPROFILE_ENGINE=perf, timer or auto, the default):
 *   timer  a POSIX timer on each thread's CPU clock.  The kernel checks
 *          those once per tick (250 Hz on Debian's kernels), so above that
 *          rate a signal stands for several periods: each sample is
 *          weighted by the overrun count, the CPU total stays exact, the
 *          number of distinct samples does not grow.  auto uses timers up
 *          to 250 Hz, where they keep the rate and cost least.
 *   perf   a perf_event_open task-clock event per thread: the exact rate
 *          (at 4000 Hz, 4000 samples a CPU-second), kernel time in system
 *          calls included; each interrupt costs more than a timer's.  auto
 *          uses it above 250 Hz where the kernel allows perf_event_open
 *          (not under some seccomp filters or kernel.perf_event_paranoid=3),
 *          else falls back to timers silently; GRT_DEBUG=profiler says why.
 *
 * Stacks are unified across foreign code: external frames called through
 * grt_extcall sit on top of the goroutine frames that called them, and a
 * callback's goroutine frames on top of the external frames that called
 * back.  Frames are found through each library's call frame information
 * (.eh_frame, compiled into tables when a profile starts), so code built
 * without frame pointers (glibc, zlib, most distribution libraries) shows
 * its callers; frame pointers are used where a library has no tables.
 * Samples that cannot be attributed safely carry a pseudo-frame:
 *   grt._System        mid-switch, or the scheduler's own work
 *   grt._ExternalCode  a thread with no goroutine frames (foreign code)
 *   grt._LostSamples   samples dropped because the collector fell behind
 *   grt._Truncated     stacks deeper than 64 frames (the outer ones cut), or
 *                      a stack whose walk broke off somewhere (call frame
 *                      information the walker does not follow, or code
 *                      with neither tables nor frame pointers, such as a
 *                      JIT's): frames are missing, the rest is exact
 *
 * Symbols: functions, files and lines come from the libraries' symbol
 * tables and DWARF, and from their debug files (/usr/lib/debug/.build-id,
 * e.g. Debian's libc6-dbg).  Code no symbols name keeps its address and its
 * mapping's build ID, so `pprof` can name it later from debug files
 * (PPROF_BINARY_PATH); the mapping flags say which mappings were
 * symbolized.  debuginfod servers are asked only with GRT_DEBUGINFOD=1.
 *
 * SIGPROF, as in Go: grt_main ignores it (unless the program set its own
 * disposition before grt_main: that one stays), so a stray SIGPROF cannot
 * kill the process before any profile runs.  A profile takes SIGPROF over
 * while it runs; grt_prof_stop gives back the disposition from before
 * grt_prof_start (SIG_IGN if it was SIG_DFL), so a late timer signal cannot
 * kill the process either.  Only the profiler's own timers and perf events
 * count: a SIGPROF sent with kill(2), tgkill(2) or sigqueue(3) stands for
 * no CPU time and is dropped.
 *
 * The environment variables GRT_CPUPROFILE=path and GRT_CPUPROFILE_HZ=n
 * profile the whole run of grt_main; the profile is written when the
 * process exits through grt_main (main returning, grt_exit, or exit(3)),
 * and on the first SIGINT or SIGTERM, before the signal takes the action
 * it had (the default, or the program's handler set before grt_main; an
 * ignored signal stays ignored).
 */
typedef struct grt_prof_config {
  const char *path; /* file to write (created or truncated), or NULL to use fd */
  int fd;           /* with path NULL: where to write; grt does not close it */
  int hz;           /* samples per CPU second; 0 means 100; at most 10000 */
} grt_prof_config;

/* Starts profiling.  0; -EBUSY if a profile is already running; -EINVAL for
 * a NULL cfg, no path and a negative fd, or hz outside 0..10000 (each of
 * these misuses prints one line); -errno of open(2) for the path (no line:
 * the caller reports it); -ENOMEM. */
GRT_API int grt_prof_start(const grt_prof_config *cfg);

/* Stops profiling, writes the profile and closes the file it opened.  Blocks
 * while it symbolizes and writes (on a goroutine, through grt_extcall, so
 * other goroutines keep running).  0; -EINVAL if no profile is running
 * (with one line on stderr); -errno of the write. */
GRT_API int grt_prof_stop(void);

/*
 * Profiler labels (Go's pprof.Labels and pprof.Do).  A label set is an
 * immutable, reference-counted list of key=value pairs; every CPU sample
 * taken while a goroutine runs inside grt_prof_do carries its set, and so
 * do samples of the external code it calls through grt_extcall.  A new
 * goroutine inherits its creator's set.
 *
 * grt_labels_make takes key, value pairs ending with a NULL key, e.g.
 *   grt_labels *l = grt_labels_make("handler", "login", "tenant", "acme", NULL);
 * A key given twice keeps its last value.  Returns NULL with errno EINVAL
 * for an empty key or a NULL value, ENOMEM when out of memory.  The strings
 * are copied.
 *
 * grt_labels_release drops the caller's reference (NULL is a no-op); the
 * set lives on while goroutines or pending samples use it.
 *
 * grt_prof_do runs fn(arg) with l's labels added to the calling goroutine's
 * current ones (l wins on equal keys), then restores them.  Outside a
 * goroutine it just calls fn(arg).  l may be released as soon as
 * grt_prof_do returns, or even by another goroutine while fn runs.
 */
typedef struct grt_labels grt_labels;
GRT_API grt_labels *grt_labels_make(const char *key, const char *value, ...);
GRT_API void grt_labels_release(grt_labels *l);
GRT_API void grt_prof_do(grt_labels *l, void (*fn)(void *), void *arg);

/* ---- Where goroutines wait: block and mutex profiles ---------------------
 * Go's block and mutex profiles (runtime.SetBlockProfileRate,
 * SetMutexProfileFraction, pprof.Lookup("block"/"mutex")), written as
 * gzipped pprof with sample types contentions/count and delay/nanoseconds,
 * which `go tool pprof`, Pyroscope and Parca read as they read Go's.
 *
 * The block profile records where goroutines blocked and for how long:
 * channel sends and receives, select, grt_mutex and the rest of sync, wait
 * groups, and network and fd waits (grt_read, grt_wait_fd...; Go leaves
 * these out).  Sleeps (grt_sleep, an empty select) are not blocking, as in
 * Go.  Each event is charged to the blocked goroutine's stack, from the
 * grt call that blocked.  An event of d ns is recorded with probability
 * min(1, d / rate) and weighted so that the totals stay unbiased.
 *
 * The mutex profile records contention on grt_mutex: when an unlock hands
 * the mutex to a waiting goroutine, the waiter's wait is charged to the
 * unlocker's stack, from its grt_mutex_unlock, as Go charges it: the end
 * of the critical section that made others wait.  One handoff in n is
 * recorded, and counted n times.
 *
 * Both record from the moment they are turned on until the process ends;
 * a write is a snapshot of everything so far.  Environment, as for
 * GRT_CPUPROFILE (written at exit through grt_main, and on SIGINT/SIGTERM):
 * GRT_BLOCKPROFILE=path [GRT_BLOCKPROFILE_RATE=ns, default 1: every event],
 * GRT_MUTEXPROFILE=path [GRT_MUTEXPROFILE_FRACTION=n, default 1]. */

/* rate_ns > 0: record blocking events (1: every one); <= 0: stop. */
GRT_API void grt_set_block_profile_rate(int64_t rate_ns);
/* n > 0: record one grt_mutex handoff in n; 0: stop; n < 0: only read.
 * Returns the previous fraction. */
GRT_API int grt_set_mutex_profile_fraction(int n);
/* Write the profile so far to fd (not closed).  0, or -errno: -EBADF for a
 * negative fd (one stderr line), -ENOMEM, or write(2)'s error. */
GRT_API int grt_block_profile_write(int fd);
GRT_API int grt_mutex_profile_write(int fd);

/* ---- Where goroutines spend wall time: the wall-clock profile -----------
 * At hz ticks a second of wall-clock time (0 means 100; at most 1000),
 * every goroutine is counted once, under its stack and a label
 * state=<state>: "running", "runnable" (ready, waiting for a P: scheduler
 * latency), "extcall", or what it waits for ("chan receive", "select",
 * "IO wait", "sleep", "mutex", ...).  Sample types samples/count and
 * wall/nanoseconds: per code path, where wall time goes, waiting included.
 * `go tool pprof -tagfocus=state=sleep` or `-tagroot=state` slice it by
 * state.  No stop-the-world: parked goroutines are read through the same
 * snapshots as grt_dump, and one that has not run since the last tick
 * costs a few loads.  A goroutine running on another thread is counted
 * under the function it was started with (its stacks are the CPU
 * profile's).  Past 1,000 goroutines, each tick counts a systematic
 * sample of 1,000 (every n/1000th from a random start), weighted.
 * GRT_WALLPROFILE=path [GRT_WALLPROFILE_HZ=n] profiles the whole run, as
 * GRT_CPUPROFILE does.  cfg is as for grt_prof_start (hz up to 1000).
 * 0; -EBUSY if one is running; -EINVAL (one line) for a NULL cfg, a bad hz
 * or no destination; open(2)'s -errno; -ENOMEM. */
GRT_API int grt_wallprof_start(const grt_prof_config *cfg);
/* Stops it and writes the profile.  0; -EINVAL (one line) if none runs;
 * -errno from writing. */
GRT_API int grt_wallprof_stop(void);

/* ---- Introspection ------------------------------------------------------ */

typedef struct grt_stats {
  uint64_t goroutines;        /* live goroutines */
  uint64_t threads;           /* Ms with a thread: grt's (the main thread's included) and
                               * extra Ms; a thread that could not be created is not counted */
  uint64_t stacks_guarded;    /* live goroutine stacks with a guard page */
  uint64_t stacks_canary;     /* live stacks that fell back to canary checks */
  uint64_t vma_budget;        /* guarded stacks allowed (from vm.max_map_count) */
  uint64_t extra_ms;          /* extra Ms ever created, for threads grt did not create */
  uint64_t procs_ran[64];     /* goroutines run per P (first 64 Ps) */
  uint64_t handoffs;          /* Ps handed off from goroutines that held them 10 ms */
  uint64_t running_without_p; /* such goroutines still running their own code, no P */
  uint64_t procs_idle;        /* Ps idle now */
} grt_stats;

/* Fills *st.  0, or -EINVAL for NULL. */
GRT_API int grt_read_stats(grt_stats *st);

/* The [start, end) address ranges of every routine that writes the stack
 * pointer (the switch routines).  Returns the number of ranges and points
 * *names at their symbol names.  Used by the profiler and by tests. */
typedef struct grt_code_range {
  const char *name;
  uintptr_t start, end;
} grt_code_range;
GRT_API int grt_switch_ranges(const grt_code_range **ranges);

/* The calling thread's foreign-code state, for tests and diagnostics. */
typedef struct grt_thread_state {
  int known;       /* 1 if this thread has an M (grt's, or a borrowed extra M) */
  int is_extra;    /* the M is an extra M borrowed by a thread grt did not create */
  int in_external; /* extra M: no goroutine frames are on this thread */
  int ext_depth;   /* active grt_extcall frames on this thread */
  int cb_depth;    /* active grt_callback frames on this thread */
} grt_thread_state;
GRT_API int grt_thread_state_get(grt_thread_state *st); /* 0, or -EINVAL for NULL */

/* The calling goroutine's stack bounds [lo, hi).  0, or -EPERM outside a
 * goroutine (lo and hi untouched). */
GRT_API int grt_stack_bounds(uintptr_t *lo, uintptr_t *hi);

#ifdef __cplusplus
}
#endif
#endif /* GRT_H */
