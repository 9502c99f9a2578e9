/*
 * api_chan_refs: a channel shared by several owners is freed exactly once,
 * by the last release.  Run with LeakSanitizer on (CMakeLists.txt): a
 * channel never freed is a leak report; one freed early is a use after
 * free (ASan), or a crash here.
 *   - make (1 reference), retain twice from two goroutines, then three
 *     releases from three owners: it is usable until the last one;
 *   - retain(NULL) is EINVAL with a line; release(NULL) a no-op.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <errno.h>
#include <stdio.h>

#include "testutil.h"

static grt_chan *shared;
static grt_wg wg;

static void owner(void *arg) {
  grt_chan *c = arg;
  long v = 7;
  CHECK(grt_chan_send(c, &v) == 0);
  grt_chan_release(c); /* this owner is done */
  grt_wg_done(&wg);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  shared = grt_chan_make(sizeof(long), 4);
  CHECK(shared);
  grt_wg_add(&wg, 2);
  CHECK(grt_chan_retain(shared) == shared);
  CHECK(grt_go(owner, shared) == 0);
  CHECK(grt_chan_retain(shared) == shared);
  CHECK(grt_go(owner, shared) == 0);
  grt_wg_wait(&wg); /* two references dropped; the creator's remains */
  long v = 0;
  CHECK(grt_chan_recv(shared, &v) == 1 && v == 7);
  CHECK(grt_chan_recv(shared, &v) == 1 && v == 7);
  CHECK(grt_chan_len(shared) == 0);
  grt_chan_release(shared); /* the last: freed */

  grt_chan *twice = grt_chan_make(0, 0);
  CHECK(twice);
  CHECK(grt_chan_retain(twice) == twice);
  grt_chan_release(twice);
  grt_chan_free(twice); /* the last: freed */

  errno = 0;
  CHECK(grt_chan_retain(NULL) == NULL && errno == EINVAL);
  grt_chan_release(NULL);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return main_with_procs("2", run, argc, argv);
}
