/*
 * synctest.h - helpers for the ported Go sync tests (sync_*.c):
 *
 *   sync_main(...)   runs the test body at GRT_MAXPROCS=1, then 2, each in a
 *                    re-executed child (run_self); fails if either fails
 *   tryrecv(c, p)    Go's select { case v := <-c: ... default: }: 1 if a
 *                    value was received, 0 if none was ready
 *
 * Include it after testutil.h.
 */
#ifndef GRT_SYNCTEST_H
#define GRT_SYNCTEST_H

#include "testutil.h"

static inline int tryrecv(grt_chan *c, void *elem) {
  grt_select_case cs = {.chan = c, .dir = GRT_RECV, .elem = elem};
  int r = grt_select(&cs, 1, 0);
  CHECK(r == 0 || r == -EAGAIN);
  return r == 0;
}

static inline grt_chan *mkchan(size_t cap) {
  grt_chan *c = grt_chan_make(sizeof(int), cap);
  CHECK(c);
  return c;
}

static inline void send_int(grt_chan *c, int v) {
  CHECK(grt_chan_send(c, &v) == 0);
}

static inline int recv_int(grt_chan *c) {
  int v = -1;
  CHECK(grt_chan_recv(c, &v) == 1);
  return v;
}

/* argv[1] "child", argv[2] the number of Ps: run body there.  Else re-run
 * this program as such a child at 1 and at 2 Ps. */
static inline int sync_main(const char *name, int (*body)(int, char **), int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "child") == 0) return main_with_procs(argv[2], body, argc, argv);
  static const char *const procs[] = {"1", "2"};
  int failed = 0;
  for (int i = 0; i < 2; i++) {
    const char *args[] = {"child", procs[i], NULL};
    printf("--- %s at GRT_MAXPROCS=%s\n", name, procs[i]);
    int status = run_self(args, NULL, NULL, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      printf("FAIL: %s at %s Ps (status %#x)\n", name, procs[i], status);
      failed++;
    }
  }
  if (failed) return 1;
  printf("%s: ok\n", name);
  return 0;
}

#endif /* GRT_SYNCTEST_H */
