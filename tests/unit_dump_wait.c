/*
 * unit_dump_wait: goroutine dumps say, as Go's do, who created a goroutine
 * ("created by <fn> in goroutine N" and the position of its grt_go call)
 * and how long a parked one has waited, in whole minutes once it reaches
 * one ("[chan receive, 3 minutes]").  Three minutes of waiting are made by
 * moving the parked goroutine's waitsince back (white-box: this test links
 * the runtime's internals); a goroutine parked for less than a minute
 * shows no duration.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <stdio.h>
#include <string.h>

#include "runtime/runtime.h"
#include "testutil.h"

static grt_chan *c, *slow;
static struct g *waiter_g;

__attribute__((noinline)) static void waiter(void *arg) {
  (void)arg;
  waiter_g = getcurg();
  int v;
  grt_chan_recv(c, &v);
}

__attribute__((noinline)) static void short_waiter(void *arg) {
  (void)arg;
  int v;
  grt_chan_recv(slow, &v);
}

__attribute__((noinline)) static void spawn_waiters(void) {
  CHECK(grt_go(waiter, NULL) == 0); /* the "created by" line points here */
  CHECK(grt_go_with(&(grt_go_opts){.name = "short"}, short_waiter, NULL) == 0);
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  c = grt_chan_make(sizeof(int), 0);
  slow = grt_chan_make(sizeof(int), 0);
  CHECK(c && slow);
  spawn_waiters();
  grt_sleep(50 * 1000000LL); /* both parked */
  CHECK(waiter_g);
  waiter_g->waitsince -= 3 * 60 * 1000000000LL + 5 * 1000000000LL;
  char *d = dump_to_string();
  printf("%s", d);
  CHECK(strstr(d, "[chan receive, 3 minutes]:"));
  CHECK(strstr(d, "[chan receive, \"short\"]:")); /* under a minute: no duration */
  const char *created = strstr(d, "created by spawn_waiters in goroutine 1\n\t");
  CHECK(created);
  CHECK(strstr(created, "unit_dump_wait.c:"));
  free(d);
  int v = 1;
  CHECK(grt_chan_send(c, &v) == 0 && grt_chan_send(slow, &v) == 0);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(run, argc, argv);
}
