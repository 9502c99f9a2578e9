/*
 * unit_switch_states: every instruction of the switch code is row 2 of the
 * decision table (docs/design.md), whatever the registers hold, and the
 * handler reads nothing for it.  A real SIGPROF lands in the switch code
 * only by chance, and under qemu-user (which delivers signals at
 * translation-block boundaries) never inside it: this test builds the
 * interrupted states itself.
 *
 * A goroutine, with a CPU profile running at 1 Hz, calls the real handler
 * (sigprof_handler) with a timer's siginfo (SI_TIMER and its M's own timer
 * id, or POLL_IN and its perf fd: what the handler takes for CPU time) and
 * a synthetic ucontext, with every signal blocked as during a real
 * delivery:
 *   - pc: every address in every routine of grt_switch_ranges() (each byte
 *     on x86-64, whose instructions have no fixed length; every 4 bytes on
 *     aarch64);
 *   - SP, FP and LR hostile: unmapped (0, 0x10), kernel-half, misaligned,
 *     SP on g0's stack (a switch half done), and SP/FP inside the
 *     goroutine's own stack but inconsistent (its lowest byte, its top, a
 *     frame record that points at itself, one that points downwards, the
 *     real frame chain under a wrong SP);
 *   - TLS g the goroutine, and again g0 (a switch past its first write).
 * Every such sample must be exactly {pc, grt._System} in the profile, as
 * `go tool pprof -raw` reads it back, and there must be one per call (no
 * call dropped, nothing lost); reading from a garbage SP would have
 * crashed the test.
 *
 * The control: pcs right outside the ranges (each range's end, the byte or
 * instruction before its start, when not in another range) and in ordinary
 * code, with the in-stack states (where rows 3 and 7 do not apply), must
 * never come out as {pc, grt._System}: so a table or an in_switch_code
 * that claims everything fails, and one that claims nothing fails on the
 * in-stack states of the switch pcs (the handler would walk them).
 *
 * unit_: it calls the handler and reads the sampler's state (grt_internal).
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "testutil.h"
#include "pprof_raw.h"

#include "runtime/runtime.h"
#include "sampler/sampler.h"

#define HZ 1 /* the real timer's samples are few; they may add to the counts */

#if defined(__x86_64__)
#define PC_STEP 1
#define KERNEL_ADDR ((uintptr_t)0xffffffff81000000ULL)
#elif defined(__aarch64__)
#define PC_STEP 4
#define KERNEL_ADDR ((uintptr_t)0xffff800008000000ULL)
#else
#error "unit_switch_states: no ucontext layout for this CPU"
#endif

static void uc_set(ucontext_t *uc, uintptr_t pc, uintptr_t sp, uintptr_t fp, uintptr_t lr) {
  memset(uc, 0, sizeof *uc);
#if defined(__x86_64__)
  uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
  uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
  uc->uc_mcontext.gregs[REG_RBP] = (greg_t)fp;
  (void)lr; /* no link register */
#else
  uc->uc_mcontext.pc = pc;
  uc->uc_mcontext.sp = sp;
  uc->uc_mcontext.regs[29] = fp;
  uc->uc_mcontext.regs[30] = lr;
#endif
}

/* ---- the pcs ---- */

#define MAX_PCS 4096
static uintptr_t switch_pcs[MAX_PCS], control_pcs[64];
static int nswitch, ncontrol;

static const grt_code_range *ranges;
static int nranges;

static int in_ranges(uintptr_t pc) {
  for (int i = 0; i < nranges; i++)
    if (pc >= ranges[i].start && pc < ranges[i].end) return 1;
  return 0;
}

/* Ordinary code that never runs (so no real sample lands on it). */
__attribute__((noinline)) int switch_states_never_called(int x) {
  __asm__ volatile("" : "+r"(x));
  return x * 5 + 1;
}
int (*volatile switch_states_keep)(int) = switch_states_never_called;

static void add_control(uintptr_t pc) {
  if (in_ranges(pc)) return;
  for (int i = 0; i < ncontrol; i++)
    if (control_pcs[i] == pc) return;
  CHECK(ncontrol < (int)(sizeof control_pcs / sizeof *control_pcs));
  control_pcs[ncontrol++] = pc;
}

static void collect_pcs(void) {
  nranges = grt_switch_ranges(&ranges);
  CHECK(nranges >= 7);
  for (int i = 0; i < nranges; i++) {
    CHECK(ranges[i].end > ranges[i].start);
    CHECK(ranges[i].start % PC_STEP == 0 && ranges[i].end % PC_STEP == 0);
    for (uintptr_t pc = ranges[i].start; pc < ranges[i].end; pc += PC_STEP) {
      CHECK(nswitch < MAX_PCS);
      switch_pcs[nswitch++] = pc;
    }
    add_control(ranges[i].end);
    add_control(ranges[i].start - PC_STEP);
  }
  uintptr_t fn = (uintptr_t)switch_states_never_called;
  for (int k = 0; k < 4; k++)
    add_control(fn + (uintptr_t)(k * PC_STEP));
  /* Each routine contributes a control unless its neighbours abut it. */
  CHECK(ncontrol >= 4 + nranges / 2);
}

/* ---- the states ---- */

struct state {
  const char *what;
  uintptr_t sp, fp, lr;
  int in_stack; /* SP inside the goroutine's stack: rows 3 and 7 do not apply */
};

#define MAX_STATES 16
static struct state states[MAX_STATES];
static int nstates, nstates_in_stack;

static void add_state(const char *what, uintptr_t sp, uintptr_t fp, uintptr_t lr, int in_stack,
                      uintptr_t lo, uintptr_t hi) {
  CHECK(nstates < MAX_STATES);
  /* What the test claims of a state holds. */
  CHECK(in_stack == (sp >= lo && sp < hi));
  states[nstates++] = (struct state){what, sp, fp, lr, in_stack};
  nstates_in_stack += in_stack;
}

/* A frame record that points at itself (a loop), and one whose caller's
 * record is below it (a walk going the wrong way), on this goroutine's
 * stack: fake[0..1] and fake[2..3] (x86-64's [rbp], [rbp + 8]; aarch64's
 * [x29], [x29 + 8]). */
static void build_states(uintptr_t *fake, uintptr_t here, uintptr_t ret) {
  struct g *g = getg();
  struct m *mp = g->m;
  uintptr_t lo = g->stack_lo, hi = g->stack_hi;
  uintptr_t g0_mid = mp->g0->stack_lo / 2 + mp->g0->stack_hi / 2;
  fake[0] = (uintptr_t)&fake[0];
  fake[1] = ranges[0].start + PC_STEP;
  fake[2] = (uintptr_t)&fake[2] - 64;
  fake[3] = 0x10;
  nstates = nstates_in_stack = 0;
  add_state("all zero", 0, 0, 0, 0, lo, hi);
  add_state("unmapped 0x10", 0x10, 0x10, 0x10, 0, lo, hi);
  add_state("kernel half", KERNEL_ADDR, KERNEL_ADDR + 0x40, KERNEL_ADDR + 0x80, 0, lo, hi);
  add_state("misaligned, unmapped", 0x1003, UINTPTR_MAX - 6, 0x1, 0, lo, hi);
  add_state("SP on g0 (half a switch)", g0_mid, mp->g0->stack_hi - 16, ret, 0, lo, hi);
  add_state("SP here, FP 0x10", here, 0x10, 0x10, 1, lo, hi);
  add_state("SP at the stack's lowest byte, FP at its top", lo, hi - 16, KERNEL_ADDR, 1, lo, hi);
  add_state("SP at the stack's top", hi - 8, here, ret, 1, lo, hi);
  add_state("SP and FP misaligned in the stack", here + 1, here + 3, 0x10, 1, lo, hi);
  add_state("FP a record pointing at itself", here, (uintptr_t)&fake[0], fake[1], 1, lo, hi);
  add_state("FP a record pointing downwards", (uintptr_t)&fake[0], (uintptr_t)&fake[2], 0, 1, lo,
            hi);
  add_state("the real frame chain under a wrong SP", lo + 4096, here, ret, 1, lo, hi);
}

/* ---- calling the handler ---- */

static uint64_t calls;

/* Waits until this M's ring has room for the largest sample, so that no
 * synthetic sample is lost: the collector drains it every 100 ms. */
static void wait_ring_room(void) {
  int64_t deadline = grt_nanotime() + 60LL * 1000000000;
  for (;;) {
    struct prof_ring *r = atomic_load(&getm()->prof_ring);
    CHECK(r); /* every M gets a ring when the session starts */
    uint64_t used = atomic_load(&r->head) - atomic_load(&r->tail);
    if (RING_WORDS - used >= 4 * (RING_HEADER + PROF_MAX_FRAMES + 1)) return;
    CHECK(grt_nanotime() < deadline);
    grt_sleep(10 * 1000000);
  }
}

/* One synthetic SIGPROF: pc with st, TLS g set to tls_g for the call. */
static void fake_signal(uintptr_t pc, const struct state *st, struct g *tls_g) {
  wait_ring_room();
  struct m *mp = getm();
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = SIGPROF;
  int fd = atomic_load(&mp->prof_perf_fd);
  if (fd >= 0) { /* the perf engine: one period of this thread's CPU */
    si.si_code = POLL_IN;
    si.si_fd = fd;
  } else { /* a POSIX CPU timer: this M's own */
    si.si_code = SI_TIMER;
    si.si_timerid = atomic_load(&mp->prof_ktimer);
    si.si_overrun = 0;
  }
  ucontext_t uc;
  uc_set(&uc, pc, st->sp, st->fp, st->lr);
  /* As in a real delivery, no signal interrupts the handler (a real
   * SIGPROF would write to the same ring); nor does one see TLS g swapped. */
  sigset_t all, old;
  sigfillset(&all);
  CHECK(pthread_sigmask(SIG_SETMASK, &all, &old) == 0);
  struct g *self = getg();
  uint64_t before = atomic_load(&sigprof.delivered);
  setg(tls_g);
  sigprof_handler(SIGPROF, &si, &uc);
  setg(self);
  uint64_t after = atomic_load(&sigprof.delivered);
  CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
  /* (The count is the process's: a real SIGPROF on another thread may
   * add to it meanwhile.) */
  if (after - before < 1) {
    fprintf(stderr, "the handler did not take the sample (pc %#lx, %s)\n", (unsigned long)pc,
            st->what);
    CHECK(0);
  }
  calls++;
}

static grt_wg done;

__attribute__((noinline)) static void run_states(void *arg) {
  (void)arg;
  uintptr_t fake[4];
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  build_states(fake, here, (uintptr_t)__builtin_return_address(0));
  struct g *g = getg();
  CHECK(g == g->m->curg);
  for (int i = 0; i < nswitch; i++)
    for (int s = 0; s < nstates; s++) {
      fake_signal(switch_pcs[i], &states[s], getg());
      fake_signal(switch_pcs[i], &states[s], getg()->m->g0);
    }
  for (int i = 0; i < ncontrol; i++)
    for (int s = 0; s < nstates; s++)
      if (states[s].in_stack) fake_signal(control_pcs[i], &states[s], getg());
  __asm__ volatile("" ::"r"(fake) : "memory"); /* fake stays live and on this stack */
  grt_wg_done(&done);
}

/* ---- reading the profile back ---- */

static int cmp_pc(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

static int index_of(const uintptr_t *pcs, int n, uint64_t pc) {
  const uintptr_t key = (uintptr_t)pc;
  const uintptr_t *p = bsearch(&key, pcs, (size_t)n, sizeof *pcs, cmp_pc);
  return p ? (int)(p - pcs) : -1;
}

static int64_t switch_count[MAX_PCS], control_count[64];

static void check_profile(const char *path, uint64_t real_samples) {
  struct pprof_raw r;
  pprof_load(path, &r);
  pprof_check_cpu_profile(&r, HZ);
  CHECK(!pprof_pseudo(&r, "grt._LostSamples"));
  qsort(switch_pcs, (size_t)nswitch, sizeof *switch_pcs, cmp_pc);
  qsort(control_pcs, (size_t)ncontrol, sizeof *control_pcs, cmp_pc);
  int64_t on_switch = 0;
  for (int i = 0; i < r.nsamples; i++) {
    const struct pprof_sample *s = &r.samples[i];
    const struct pprof_loc *leaf = pprof_frame(&r, s, 0);
    int is_system = s->nlocs == 2 && pprof_ends_with(&r, s, "grt._System");
    int k = index_of(switch_pcs, nswitch, leaf->addr);
    if (k >= 0) {
      if (!is_system) {
        pprof_dump_sample(stderr, "a pc in a switch routine, not {pc, grt._System}", &r, s);
        CHECK(0);
      }
      switch_count[k] += s->count;
      on_switch += s->count;
    }
    k = index_of(control_pcs, ncontrol, leaf->addr);
    if (k >= 0) {
      if (is_system) {
        pprof_dump_sample(stderr, "a pc outside the switch code taken for mid-switch", &r, s);
        CHECK(0);
      }
      control_count[k] += s->count;
    }
  }
  /* One sample per call: none dropped or merged away; the real timer's few
   * samples may land in the switch code too. */
  int64_t per_switch_pc = 2 * nstates, per_control_pc = nstates_in_stack;
  for (int i = 0; i < nswitch; i++)
    if (switch_count[i] < per_switch_pc) {
      fprintf(stderr, "pc %#lx: %lld samples, want %lld\n", (unsigned long)switch_pcs[i],
              (long long)switch_count[i], (long long)per_switch_pc);
      CHECK(0);
    }
  CHECK(on_switch <= per_switch_pc * nswitch + (int64_t)real_samples);
  for (int i = 0; i < ncontrol; i++)
    if (control_count[i] < per_control_pc) {
      fprintf(stderr, "control pc %#lx: %lld samples, want %lld\n", (unsigned long)control_pcs[i],
              (long long)control_count[i], (long long)per_control_pc);
      CHECK(0);
    }
  printf("%d switch pcs x %d states: %lld samples, each {pc, grt._System}; %d control pcs x %d "
         "states: none {pc, grt._System}; %llu real timer samples\n",
         nswitch, 2 * nstates, (long long)on_switch, ncontrol, nstates_in_stack,
         (unsigned long long)real_samples);
  pprof_free(&r);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  collect_pcs();
  char path[256];
  snprintf(path, sizeof path, "%s", pprof_path("states.pb.gz"));
  uint64_t d0 = atomic_load(&sigprof.delivered);
  CHECK(grt_prof_start(&(grt_prof_config){.path = path, .hz = HZ}) == 0);
  grt_wg_add(&done, 1);
  CHECK(grt_go(run_states, NULL) == 0);
  grt_wg_wait(&done);
  CHECK(grt_prof_stop() == 0);
  uint64_t delivered = atomic_load(&sigprof.delivered) - d0;
  CHECK(delivered >= calls);
  printf("engine: %s\n", sampler_engine() == CPUTIMER_PERF ? "perf" : "timer");
  check_profile(path, delivered - calls);
  printf("unit_switch_states: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  pprof_skip_without_go();
  return main_with_procs("1", run, argc, argv);
}
