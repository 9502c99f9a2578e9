/*
 * overflow_bigframe: a stack frame larger than the guard page still hits
 * the guard page, so the overflow is reported as "goroutine <id> stack
 * overflow" naming the goroutine that overflowed, and the process aborts.
 *
 * The child (this program re-run with "child") starts a goroutine with a
 * 64 KiB stack that prints its id and, 8 KiB deep into its stack (a
 * caller's frame with a buffer of its own), calls big_frame(), whose frame
 * holds a 64 KiB array: the frame reaches past the stack and past its
 * 4 KiB guard page.  big_frame writes only the low end of the array, as a
 * function using the start of a large buffer does.  Without -fstack-clash-protection
 * those writes land below the guard page, in whatever is mapped there (a
 * neighbour's stack: silent corruption, and big_frame returns) or in an
 * unmapped hole (SIGSEGV reported as a plain fault, not as an overflow).
 * With it (grt gives the flag to every program that links grt::grt, this
 * test included), the frame's pages are probed top down and the first
 * probe below the stack faults in the guard page.  The parent checks the
 * message names the child's goroutine id, that big_frame did not return,
 * and that the child died by SIGABRT.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define STACK 65536
#define BIG (64 * 1024)
#define DEPTH (8 * 1024)

/* ---- child ---- */

/* Not instrumented by ASan, so its frame is the array and no fake stack
 * (detect_stack_use_after_return) can move the array off the goroutine's
 * stack. */
__attribute__((noinline, no_sanitize_address)) static int big_frame(int seed) {
  volatile char buf[BIG];
  for (int i = 0; i < 1024; i++) /* the low end only: below the guard page */
    buf[i] = (char)(seed + i);
  __asm__ volatile("" ::: "memory");
  return buf[seed % 1024];
}

/* Uses 8 KiB of the stack, then calls big_frame. */
__attribute__((noinline, no_sanitize_address)) static int deeper(int seed) {
  volatile char buf[DEPTH];
  for (int i = 0; i < DEPTH; i++)
    buf[i] = (char)(seed + i);
  int r = big_frame(seed);
  __asm__ volatile("" ::: "memory");
  return r + buf[seed % DEPTH];
}

static grt_chan *never;

/* Parked forever: goroutine stacks mapped next to the big frame's. */
static void pad(void *arg) {
  (void)arg;
  grt_chan_recv(never, NULL);
}

static void culprit(void *arg) {
  (void)arg;
  uintptr_t lo, hi;
  CHECK(grt_stack_bounds(&lo, &hi) == 0);
  CHECK(hi - lo == STACK);
  printf("%llu\n", (unsigned long long)grt_id());
  fflush(stdout);
  int r = deeper((int)grt_id());
  printf("big_frame returned (%d): the overflow went unnoticed\n", r);
  fflush(stdout);
  exit(3);
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  never = grt_chan_make(0, 0);
  CHECK(never);
  for (int i = 0; i < 4; i++)
    CHECK(grt_go(pad, NULL) == 0);
  grt_go_opts o = {.stack_size = STACK, .name = "culprit"};
  CHECK(grt_go_with(&o, culprit, NULL) == 0);
  for (int i = 0; i < 4; i++)
    CHECK(grt_go(pad, NULL) == 0);
  grt_chan_recv(never, NULL); /* culprit exits or aborts the process */
  return 0;
}

/* ---- parent ---- */

static int parent(int argc, char **argv) {
  (void)argc;
  (void)argv;
  static char out[1 << 16], err[1 << 16];
  const char *args[] = {"child", NULL};
  const char *env[] = {"GRT_STACK_GUARD_BUDGET", NULL}; /* the default: guarded stacks */
  int status = run_self(args, env, out, err, sizeof out);
  printf("--- child: ");
  if (WIFSIGNALED(status))
    printf("killed by signal %d\n", WTERMSIG(status));
  else
    printf("exited with status %d\n", WEXITSTATUS(status));
  printf("stdout:\n%sstderr:\n%s", out, err);
  unsigned long long id = 0;
  CHECK(sscanf(out, "%llu", &id) == 1);
  CHECK(id > 1);
  CHECK(strstr(out, "big_frame returned") == NULL);
  char want[64];
  snprintf(want, sizeof want, "goroutine %llu stack overflow", id);
  CHECK(strstr(err, want) != NULL);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  printf("overflow_bigframe: ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  return grt_main(parent, argc, argv);
}
