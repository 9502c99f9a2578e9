// The C half of the ext_callback twin: the foreign thread, created with
// pthread_create, that calls the exported Go function goEmpty.
package main

/*
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <stdint.h>
#include <time.h>

extern void goEmpty(void);

struct round {
	long n;
	int64_t ns;
};

static int64_t nanotime(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *foreign(void *p) {
	struct round *r = p;
	int64_t t0 = nanotime();
	for (long i = 0; i < r->n; i++)
		goEmpty();
	r->ns = nanotime() - t0;
	return NULL;
}

// Runs n callbacks on a new thread; returns ns per callback, or -1.
double runCallbacks(long n) {
	struct round r = {n, 0};
	pthread_t tid;
	if (pthread_create(&tid, NULL, foreign, &r) != 0)
		return -1;
	if (pthread_join(tid, NULL) != 0)
		return -1;
	return (double)r.ns / (double)n;
}
*/
import "C"
