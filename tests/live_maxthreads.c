/*
 * live_maxthreads: GRT_MAXTHREADS caps the threads that handing off stuck
 * Ps may create.  With GRT_MAXTHREADS=8 on 2 Ps, 20 goroutines that each
 * block their thread in read(2) for 300 ms (foreign threads write the
 * pipes) all finish; the program completes, says once that the cap was
 * reached, and never has more than 8 Ms.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define N 20

static grt_wg wg;
static int pipes[N][2];

static void *writer(void *arg) {
  struct timespec ts = {0, 300000000};
  nanosleep(&ts, NULL);
  for (int i = 0; i < N; i++)
    CHECK(write(pipes[i][1], "x", 1) == 1);
  (void)arg;
  return NULL;
}

static void reader(void *arg) {
  int i = (int)(intptr_t)arg;
  char c;
  CHECK(read(pipes[i][0], &c, 1) == 1);
  grt_wg_done(&wg);
}

static int child(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < N; i++)
    CHECK(pipe(pipes[i]) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, writer, NULL) == 0);
  grt_wg_add(&wg, N);
  for (int i = 0; i < N; i++)
    CHECK(grt_go(reader, (void *)(intptr_t)i) == 0);
  grt_wg_wait(&wg);
  grt_stats st;
  CHECK(grt_read_stats(&st) == 0);
  printf("done: %llu threads, %llu handoffs\n", (unsigned long long)st.threads,
         (unsigned long long)st.handoffs);
  CHECK(st.threads <= 8);
  pthread_join(t, NULL);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return grt_main(child, argc, argv);
  static char out[4096], err[4096];
  const char *args[] = {"child", NULL};
  const char *env[] = {"GRT_MAXPROCS=2", "GRT_MAXTHREADS=8", NULL};
  int status = run_self(args, env, out, err, sizeof out);
  printf("stdout: %sstderr: %s", out, err);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strstr(out, "done:"));
  const char *line = strstr(err, "GRT_MAXTHREADS");
  CHECK(line && !strstr(line + 1, "GRT_MAXTHREADS")); /* once */
  printf("ok\n");
  return 0;
}
