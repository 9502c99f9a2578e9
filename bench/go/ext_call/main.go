// ext_call: Go twin of bench/ext_call.c.  GOMAXPROCS=2.  One goroutine
// makes N cgo calls of an empty C function, C.empty(), which is noinline
// and holds a compiler memory barrier; main waits for it.  Prints the
// goroutine's elapsed time divided by N.  A smaller warm-up round runs
// first.
package main

/*
__attribute__((noinline)) static void empty(void) {
	__asm__ volatile("" ::: "memory");
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
)

const (
	nCalls  = 2000000
	nWarmup = 100000
)

func run(n int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			C.empty()
		}
		done <- time.Since(t0)
	}()
	return <-done
}

func main() {
	runtime.GOMAXPROCS(2)
	run(nWarmup)
	d := run(nCalls)
	fmt.Printf("RESULT ext_call_ns %.2f\n", float64(d.Nanoseconds())/nCalls)
}
