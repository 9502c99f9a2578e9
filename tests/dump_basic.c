/*
 * dump_basic: grt_dump prints every goroutine as Go's traceback does, with
 * the right state and its own function, file and line: goroutines parked
 * in a channel receive, a sleep and a mutex, one blocked in external code
 * (grt_extcall), and the caller itself, running.  A bad fd is -EBADF.
 * SIGQUIT (in a child) prints the same on stderr and exits with status 2.
 * The goroutine profile (debug=0/1) is tested by unit_dump_profile.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "testutil.h"

#define NCHAN 3
/* Keeps a function's last call from becoming a jump, which would take its
 * frame off the stack before the call parks. */
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static grt_chan *never;
static grt_mutex held = GRT_MUTEX_INIT;
static _Atomic uint64_t chan_ids[NCHAN], sleep_id, mutex_id, ext_id;
static _Atomic int nchan;
static int recv_line, sleep_line, lock_line, ext_line;

static pthread_mutex_t ext_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ext_cv = PTHREAD_COND_INITIALIZER;
static int ext_release, ext_entered;

__attribute__((noinline)) static void waits_on_chan(void *arg) {
  (void)arg;
  chan_ids[atomic_fetch_add(&nchan, 1)] = grt_id();
  recv_line = __LINE__ + 1;
  grt_chan_recv(never, NULL);
  NO_TAIL_CALL();
}

__attribute__((noinline)) static void sleeps_long(void *arg) {
  (void)arg;
  sleep_id = grt_id();
  sleep_line = __LINE__ + 1;
  grt_sleep(60LL * 1000 * 1000 * 1000);
  NO_TAIL_CALL();
}

__attribute__((noinline)) static void locks_mutex(void *arg) {
  (void)arg;
  mutex_id = grt_id();
  lock_line = __LINE__ + 1;
  grt_mutex_lock(&held);
  grt_mutex_unlock(&held);
}

/* External C code that blocks its thread until released. */
static void *blocked_in_c(void *arg) {
  (void)arg;
  pthread_mutex_lock(&ext_mu);
  ext_entered = 1;
  while (!ext_release)
    pthread_cond_wait(&ext_cv, &ext_mu);
  pthread_mutex_unlock(&ext_mu);
  return NULL;
}

__attribute__((noinline)) static void calls_out(void *arg) {
  (void)arg;
  ext_id = grt_id();
  ext_line = __LINE__ + 1;
  grt_extcall(blocked_in_c, NULL);
  NO_TAIL_CALL();
}

/* Does goroutine id show state, and a frame of fn whose next line (its
 * position) is dump_basic.c:line (line 0: any position)? */
static int shows(const char *dump, uint64_t id, const char *state, const char *fn, int line) {
  char *b = dump_block_of(dump, id);
  if (!b) return 0;
  char want_state[96], want_fn[96], want_line[96];
  snprintf(want_state, sizeof want_state, "goroutine %llu [%s]:\n", (unsigned long long)id, state);
  snprintf(want_fn, sizeof want_fn, "\n%s(", fn);
  snprintf(want_line, sizeof want_line, "/dump_basic.c:%d", line);
  int ok = strncmp(b, want_state, strlen(want_state)) == 0;
  const char *f = strstr(b, want_fn);
  const char *pos = f ? strchr(f + 1, '\n') : NULL; /* "\tfile:line +0x..." */
  ok = ok && pos && pos[1] == '\t';
  if (ok && line) {
    const char *at = strstr(pos, want_line), *nl = strchr(pos + 1, '\n');
    size_t n = strlen(want_line);
    ok = at && (!nl || at < nl) && (at[n] == ' ' || at[n] == '\n' || at[n] == 0);
  }
  if (!ok)
    fprintf(stderr, "goroutine %llu: want [%s] %s line %d in:\n%s\n", (unsigned long long)id, state,
            fn, line, b);
  free(b);
  return ok;
}

__attribute__((noinline)) static char *take_dump(void) {
  char *d = dump_to_string();
  NO_TAIL_CALL();
  return d;
}

static int all_parked(const char *d) {
  for (int i = 0; i < NCHAN; i++) {
    char *b = dump_block_of(d, chan_ids[i]);
    int ok = b && strstr(b, "[chan receive]");
    free(b);
    if (!ok) return 0;
  }
  char *s = dump_block_of(d, sleep_id), *m = dump_block_of(d, mutex_id),
       *e = dump_block_of(d, ext_id);
  int ok = s && strstr(s, "[sleep]") && m && strstr(m, "[mutex]") && e && strstr(e, "[extcall]");
  free(s);
  free(m);
  free(e);
  return ok;
}

__attribute__((noinline)) static void quit_parked(void *arg) {
  (void)arg;
  grt_chan_recv(never, NULL);
  NO_TAIL_CALL();
}

static int child_main(int ignore_after_start) {
  never = grt_chan_make(0, 0);
  grt_go(quit_parked, NULL);
  grt_sleep(50 * 1000 * 1000);
  if (ignore_after_start) { /* the program's choice, after grt_main: it holds */
    signal(SIGQUIT, SIG_IGN);
    raise(SIGQUIT);
    grt_sleep(200 * 1000 * 1000);
    return 3;
  }
  raise(SIGQUIT);
  grt_sleep(20LL * 1000 * 1000 * 1000); /* the dump thread exits first */
  return 3;
}

static int real_main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "sigquit-child") == 0) return child_main(0);
  if (argc > 1 && strcmp(argv[1], "sigquit-ign-child") == 0) return child_main(1);

  never = grt_chan_make(sizeof(int), 0);
  CHECK(never);
  grt_mutex_lock(&held);
  for (int i = 0; i < NCHAN; i++)
    CHECK(grt_go(waits_on_chan, NULL) == 0);
  CHECK(grt_go(sleeps_long, NULL) == 0);
  CHECK(grt_go(locks_mutex, NULL) == 0);
  CHECK(grt_go(calls_out, NULL) == 0);

  /* Wait until every one has parked (or entered its external call). */
  char *d = NULL;
  for (int tries = 0;; tries++) {
    grt_sleep(20 * 1000 * 1000);
    free(d);
    d = take_dump();
    pthread_mutex_lock(&ext_mu);
    int entered = ext_entered;
    pthread_mutex_unlock(&ext_mu);
    if (entered && atomic_load(&nchan) == NCHAN && all_parked(d)) break;
    if (tries == 250) {
      fprintf(stderr, "not all parked after 5 s:\n%s\n", d);
      CHECK(0);
    }
  }
  for (int i = 0; i < NCHAN; i++)
    CHECK(shows(d, chan_ids[i], "chan receive", "waits_on_chan", recv_line));
  CHECK(shows(d, sleep_id, "sleep", "sleeps_long", sleep_line));
  CHECK(shows(d, mutex_id, "mutex", "locks_mutex", lock_line));
  CHECK(shows(d, ext_id, "extcall", "calls_out", ext_line));
  CHECK(shows(d, ext_id, "extcall", "grt_extcall", 0));
  /* The caller itself: first, running, through take_dump. */
  CHECK(strncmp(d, "goroutine 1 [running]:\n", 23) == 0);
  CHECK(shows(d, 1, "running", "take_dump", 0));
  CHECK(shows(d, 1, "running", "real_main", 0));
  /* Every goroutine appears once. */
  char hdr[64];
  snprintf(hdr, sizeof hdr, "goroutine %llu [", (unsigned long long)chan_ids[0]);
  CHECK(strstr(d, hdr) && !strstr(strstr(d, hdr) + 1, hdr));
  free(d);

  /* Bad fds. */
  CHECK(grt_dump(-1) == -EBADF);
  CHECK(grt_dump(1000) == -EBADF);
  int p[2];
  CHECK(pipe(p) == 0);
  close(p[0]);
  signal(SIGPIPE, SIG_IGN);
  CHECK(grt_dump(p[1]) == -EPIPE);
  close(p[1]);

  /* SIGQUIT in a child: the dump on stderr, exit status 2. */
  static char out[1 << 16], err[1 << 16];
  int st = run_self((const char *const[]){"sigquit-child", NULL}, NULL, out, err, sizeof err);
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 2)) fprintf(stderr, "child: %#x\n%s\n", st, err);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  CHECK(strncmp(err, "SIGQUIT: quit\n\n", 15) == 0);
  CHECK(strstr(err, "goroutine 1 ["));
  CHECK(strstr(err, "\nquit_parked("));
  CHECK(strstr(err, "[chan receive]:\n"));

  /* Started with SIGQUIT ignored (as under nohup, or a parent that
   * ignores it): grt_main still takes it, and the dump comes. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, prev;
  sigemptyset(&ign.sa_mask);
  CHECK(sigaction(SIGQUIT, &ign, &prev) == 0); /* the child inherits SIG_IGN */
  st = run_self((const char *const[]){"sigquit-child", NULL}, NULL, out, err, sizeof err);
  CHECK(sigaction(SIGQUIT, &prev, NULL) == 0);
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 2)) fprintf(stderr, "child: %#x\n%s\n", st, err);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  CHECK(strncmp(err, "SIGQUIT: quit\n\n", 15) == 0);

  /* Ignored by the program after grt_main: ignored. */
  st = run_self((const char *const[]){"sigquit-ign-child", NULL}, NULL, out, err, sizeof err);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
  CHECK(!strstr(err, "SIGQUIT: quit"));

  pthread_mutex_lock(&ext_mu);
  ext_release = 1;
  pthread_cond_broadcast(&ext_cv);
  pthread_mutex_unlock(&ext_mu);
  grt_mutex_unlock(&held);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", real_main, argc, argv);
}
