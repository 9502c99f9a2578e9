/*
 * stack.c - goroutine stacks, the VMA budget, and the signal stacks and
 * SIGSEGV handler that turn a guard-page hit into "goroutine N stack
 * overflow".
 *
 * A guarded stack is its own mmap (MAP_NORESERVE: memory is committed only
 * as pages are touched) with a PROT_NONE page below it.  Each guarded stack
 * costs two VMAs, and the kernel caps a process at vm.max_map_count of them
 * (65530 by default), so guarded stacks are limited to a budget derived from
 * that cap.  Beyond it, stacks are carved from large chunks without guards
 * (one VMA for many stacks) and checked by a canary instead: their lowest
 * STACK_CANARY_BYTES must stay zero.  Reading never-written anonymous
 * memory maps the shared zero page, so the check costs no resident memory.
 * The scheduler checks the canary each time a G switches out.
 *
 * Stacks are reused through the schedulers' free-G lists (a dead G keeps
 * its stack); stack_free is for odd sizes and for the Gs the scheduler
 * frees beyond its caches.  Freed canary stacks go to a
 * free list here, since their chunk cannot be unmapped piecemeal cheaply.
 */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SIZE 4096
#define CHUNK_STACKS 256
#define SIGSTACK_SIZE (64 * 1024)
#define VMA_RESERVE 16384 /* left for malloc, libraries, threads */

static struct {
  rt_lock lock;
  _Atomic uint64_t guarded, canary; /* live stacks of each kind */
  uint64_t budget;
  _Atomic int warned;
  uintptr_t chunk_next, chunk_end; /* default-size canary stacks being carved */
  uintptr_t *canary_free;          /* free default-size canary stacks (lo) */
  size_t ncanary_free, canary_free_cap;
} stk;

void stack_init(long budget) {
  if (budget < 0) {
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
      if (fscanf(f, "%ld", &max) != 1) max = 65530;
      fclose(f);
    }
    budget = (max - VMA_RESERVE) / 2;
  }
  stk.budget = budget < 0 ? 0 : (uint64_t)budget;
}

void stack_counts(uint64_t *guarded, uint64_t *canary, uint64_t *budget) {
  *guarded = atomic_load(&stk.guarded);
  *canary = atomic_load(&stk.canary);
  *budget = stk.budget;
}

static int alloc_guarded(size_t size, uintptr_t *lo, uintptr_t *hi) {
  void *base = mmap(NULL, size + GUARD_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) return -errno;
  if (mprotect(base, GUARD_SIZE, PROT_NONE) != 0) {
    int err = -errno;
    munmap(base, size + GUARD_SIZE);
    return err;
  }
  *lo = (uintptr_t)base + GUARD_SIZE;
  *hi = *lo + size;
  return 0;
}

static int alloc_canary(size_t size, uintptr_t *lo, uintptr_t *hi) {
  if (size != STACK_DEFAULT) { /* odd size: its own mapping, no guard */
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) return -errno;
    *lo = (uintptr_t)base;
    *hi = *lo + size;
    return 0;
  }
  rt_lock_acquire(&stk.lock);
  if (stk.ncanary_free) {
    *lo = stk.canary_free[--stk.ncanary_free];
  } else {
    if (stk.chunk_next == stk.chunk_end) {
      size_t len = (size_t)CHUNK_STACKS * STACK_DEFAULT;
      void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (base == MAP_FAILED) {
        int err = -errno;
        rt_lock_release(&stk.lock);
        return err;
      }
      stk.chunk_next = (uintptr_t)base;
      stk.chunk_end = (uintptr_t)base + len;
    }
    *lo = stk.chunk_next;
    stk.chunk_next += STACK_DEFAULT;
  }
  rt_lock_release(&stk.lock);
  *hi = *lo + STACK_DEFAULT;
  return 0;
}

int stack_alloc(size_t size, uintptr_t *lo, uintptr_t *hi, uint8_t *kind) {
  if (atomic_fetch_add(&stk.guarded, 1) < stk.budget) {
    int err = alloc_guarded(size, lo, hi);
    if (err == 0) {
      *kind = STACK_GUARDED;
      return 0;
    }
    atomic_fetch_sub(&stk.guarded, 1);
    if (err != -ENOMEM) return err;
  } else {
    atomic_fetch_sub(&stk.guarded, 1);
  }
  int expected = 0;
  if (atomic_compare_exchange_strong(&stk.warned, &expected, 1))
    warn_line("grt: %llu guarded goroutine stacks reached the VMA budget (vm.max_map_count); "
              "further stacks have no guard page and are checked by canary",
              (unsigned long long)stk.budget);
  int err = alloc_canary(size, lo, hi);
  if (err) return err;
  *kind = STACK_CANARY;
  atomic_fetch_add(&stk.canary, 1);
  return 0;
}

void stack_release_memory(uintptr_t lo, uintptr_t hi) {
  madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static int cmp_range(const void *a, const void *b) {
  uintptr_t x = ((const uintptr_t *)a)[0], y = ((const uintptr_t *)b)[0];
  return x < y ? -1 : x > y;
}

/* Each madvise(MADV_DONTNEED) in a multi-threaded process costs a TLB
 * shootdown on every CPU, so free stacks are released in batches: sorted,
 * and neighbours (adjacent canary stacks, or guarded stacks separated only
 * by the next one's guard page) merged into one call. */
void stack_release_batch(uintptr_t (*ranges)[2], int n) {
  qsort(ranges, n, sizeof *ranges, cmp_range);
  for (int i = 0; i < n;) {
    uintptr_t lo = ranges[i][0], hi = ranges[i][1];
    int j = i + 1;
    while (j < n && (ranges[j][0] == hi || ranges[j][0] == hi + GUARD_SIZE))
      hi = ranges[j++][1];
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
    i = j;
  }
}

/* release: give the memory back first (a canary stack's, which stays
 * mapped); stack_free_released is for stacks stack_release_* gave back. */
static void free_stack(uintptr_t lo, uintptr_t hi, uint8_t kind, bool release) {
  if (kind == STACK_GUARDED) {
    munmap((void *)(lo - GUARD_SIZE), hi - lo + GUARD_SIZE);
    atomic_fetch_sub(&stk.guarded, 1);
  } else if (kind == STACK_CANARY) {
    atomic_fetch_sub(&stk.canary, 1);
    if (hi - lo != STACK_DEFAULT) {
      munmap((void *)lo, hi - lo);
      return;
    }
    if (release) stack_release_memory(lo, hi);
    rt_lock_acquire(&stk.lock);
    if (stk.ncanary_free == stk.canary_free_cap) {
      size_t cap = stk.canary_free_cap ? stk.canary_free_cap * 2 : 1024;
      uintptr_t *n = realloc(stk.canary_free, cap * sizeof *n);
      if (!n) { /* leak the stack rather than fail: it is address space only */
        rt_lock_release(&stk.lock);
        return;
      }
      stk.canary_free = n;
      stk.canary_free_cap = cap;
    }
    stk.canary_free[stk.ncanary_free++] = lo;
    rt_lock_release(&stk.lock);
  }
}

void stack_free(uintptr_t lo, uintptr_t hi, uint8_t kind) {
  free_stack(lo, hi, kind, true);
}

void stack_free_released(uintptr_t lo, uintptr_t hi, uint8_t kind) {
  free_stack(lo, hi, kind, false);
}

bool stack_canary_ok(const struct g *gp) {
  if (gp->stack_kind != STACK_CANARY) return true;
  const uint64_t *w = (const uint64_t *)gp->stack_lo;
  uint64_t acc = 0;
  for (size_t i = 0; i < STACK_CANARY_BYTES / 8; i++)
    acc |= w[i];
  return acc == 0;
}

/* ---- signal stacks and the overflow handler --------------------------------- */

/* Gives the calling thread a signal stack.  A thread that already has one
 * (a foreign thread borrowing an extra M) keeps it; an extra M rebound to a
 * new thread reuses the one it allocated before. */
int stack_signal_thread(struct m *mp) {
  stack_t cur;
  if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp != mp->gsignal) {
    mp->gsignal = cur.ss_sp;
    mp->gsignal_size = cur.ss_size;
    return 0;
  }
  void *ss =
      mp->gsignal && mp->gsignal_size == SIGSTACK_SIZE
          ? mp->gsignal
          : mmap(NULL, SIGSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ss == MAP_FAILED) return -errno;
  stack_t st = {.ss_sp = ss, .ss_size = SIGSTACK_SIZE, .ss_flags = 0};
  if (sigaltstack(&st, NULL) != 0) {
    int err = -errno;
    if (ss != mp->gsignal) munmap(ss, SIGSTACK_SIZE);
    return err;
  }
  mp->gsignal = ss;
  mp->gsignal_size = SIGSTACK_SIZE;
  return 0;
}

bool stack_on_signal_stack(void) {
  struct g *g = getg();
  const struct m *mp = g ? g->m : NULL;
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  if (mp && mp->gsignal)
    return sp >= (uintptr_t)mp->gsignal && sp < (uintptr_t)mp->gsignal + mp->gsignal_size;
  stack_t ss;
  return sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
}

static void say(const char *s) {
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

/* Runs on the M's signal stack.  A fault in the guard page of the running
 * goroutine is a stack overflow: print it with the goroutine's frames and
 * abort.  Any other fault: report where it happened, then fall back to the
 * default action so the process dies with SIGSEGV as usual. */
static void on_sigsegv(int sig, siginfo_t *si, void *uc) {
  uintptr_t addr = (uintptr_t)si->si_addr;
  uintptr_t pc = arch_uc_pc(uc), fp = arch_uc_fp(uc), sp = arch_uc_sp(uc), lr = arch_uc_lr(uc);
  struct g *g = getg();
  struct g *cur = getcurg();
  char buf[160];
  if (cur && cur->stack_kind == STACK_GUARDED && addr >= cur->stack_lo - GUARD_SIZE &&
      addr < cur->stack_lo + 256) {
    snprintf(buf, sizeof buf, "goroutine %llu stack overflow (stack [%#lx, %#lx), fault at %#lx)\n",
             (unsigned long long)cur->id, (unsigned long)cur->stack_lo,
             (unsigned long)cur->stack_hi, (unsigned long)addr);
    say(buf);
    sched_print_frames(2, pc, true, fp, sp, lr, cur->stack_lo, cur->stack_hi);
    signal(SIGABRT, SIG_DFL);
    abort();
  }
  if (cur)
    snprintf(buf, sizeof buf, "grt: signal %d (fault at %#lx) in goroutine %llu:\n", sig,
             (unsigned long)addr, (unsigned long long)cur->id);
  else
    snprintf(buf, sizeof buf, "grt: signal %d (fault at %#lx) %s:\n", sig, (unsigned long)addr,
             g ? "on a runtime system stack" : "on a thread grt does not run");
  say(buf);
  if (g) sched_print_frames(2, pc, true, fp, sp, lr, g->stack_lo, g->stack_hi);
  signal(sig, SIG_DFL); /* returning re-executes the fault under the default action */
}

/* Installed under ASan too: ours replaces ASan's SIGSEGV report, so a
 * guard-page hit reads the same in both builds. */
void stack_signal_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsegv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
}
