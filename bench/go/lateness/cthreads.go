// The C half of the lateness twin: the plain pthreads of the syscall
// scenario's pipe writer and of the callback storm, which calls the
// exported Go function goWork.
package main

/*
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

extern void goWork(uintptr_t arg);

#define MAX_THREADS 64

static _Atomic int stop;
static pthread_t threads[MAX_THREADS];
static int nthreads;
static int wfds[2];

// Writes one byte to each reader's pipe every 50 ms, then closes them.
static void *writer(void *arg) {
	(void)arg;
	while (!atomic_load(&stop)) {
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
		for (int i = 0; i < 2; i++)
			if (write(wfds[i], "x", 1) != 1) perror("lateness: write");
	}
	for (int i = 0; i < 2; i++)
		close(wfds[i]);
	return NULL;
}

static void *storm(void *arg) {
	while (!atomic_load(&stop)) {
		usleep(50);
		goWork((uintptr_t)arg);
	}
	return NULL;
}

// Starts the writer of the pipes whose write ends are w0 and w1; 0 or -1.
int startWriter(int w0, int w1) {
	wfds[0] = w0;
	wfds[1] = w1;
	if (pthread_create(&threads[0], NULL, writer, NULL) != 0) return -1;
	nthreads = 1;
	return 0;
}

// Starts n storm threads; 0 or -1.
int startStorm(int n) {
	for (; nthreads < n && nthreads < MAX_THREADS; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, storm, (void *)(uintptr_t)(nthreads + 1)) != 0)
			return -1;
	return 0;
}

// Stops the threads and waits for them.
void stopThreads(void) {
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
}
*/
import "C"
