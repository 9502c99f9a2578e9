/*
 * primes - the classic concurrent prime sieve (after the Go tour's): a
 * generator goroutine sends 2, 3, 4, ... down a channel; each prime found
 * adds a filter goroutine that drops its multiples.  Prints the first N
 * primes (default 1000), one per line, then a one-line summary on stderr.
 *
 *   ./primes [N]
 */
#include <grt.h>

#include <stdio.h>
#include <stdlib.h>

static void generate(void *arg) {
  grt_chan *out = arg;
  for (long i = 2;; i++)
    if (grt_chan_send(out, &i) != 0) return;
}

struct filter {
  grt_chan *in, *out;
  long prime;
};

static void filter(void *arg) {
  struct filter *f = arg;
  long v;
  while (grt_chan_recv(f->in, &v) == 1)
    if (v % f->prime != 0 && grt_chan_send(f->out, &v) != 0) return;
}

static int sieve(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
  if (n < 1 || n > 100000) {
    fprintf(stderr, "usage: primes [N], with 1 <= N <= 100000\n");
    return 2;
  }
  int64_t start = grt_nanotime();
  grt_chan *ch = grt_chan_make(sizeof(long), 0);
  if (!ch || grt_go(generate, ch) != 0) return 1;
  for (long i = 0; i < n; i++) {
    long prime;
    if (grt_chan_recv(ch, &prime) != 1) return 1;
    printf("%ld\n", prime);
    struct filter *f = malloc(sizeof *f);
    grt_chan *next = grt_chan_make(sizeof(long), 0);
    if (!f || !next) return 1;
    *f = (struct filter){ch, next, prime};
    if (grt_go(filter, f) != 0) return 1;
    ch = next;
  }
  fprintf(stderr, "primes: %ld primes through %ld goroutines on %d Ps in %.1f ms\n", n, n + 1,
          grt_maxprocs(), (grt_nanotime() - start) / 1e6);
  return 0;
}

int main(int argc, char **argv) {
  return grt_main(sieve, argc, argv);
}
