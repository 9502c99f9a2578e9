// ext_callback: Go twin of bench/ext_callback.c.  GOMAXPROCS=2.  The main
// goroutine calls runCallbacks (C, in cthread.go), which creates a pthread
// in C (not a Go thread); that thread calls the exported Go function
// goEmpty N times, timing its loop with clock_gettime(CLOCK_MONOTONIC).
// runCallbacks joins the thread and returns ns per call.  A smaller warm-up
// round (its own thread) runs first.
package main

/*
// A file with //export may only declare in its preamble; the definitions
// are in cthread.go.
extern double runCallbacks(long n);
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
)

const (
	nCalls  = 1000000
	nWarmup = 50000
)

//export goEmpty
func goEmpty() {}

func main() {
	runtime.GOMAXPROCS(2)
	if C.runCallbacks(nWarmup) < 0 {
		fmt.Fprintln(os.Stderr, "ext_callback: pthread_create or pthread_join failed")
		os.Exit(1)
	}
	ns := float64(C.runCallbacks(nCalls))
	if ns < 0 {
		fmt.Fprintln(os.Stderr, "ext_callback: pthread_create or pthread_join failed")
		os.Exit(1)
	}
	fmt.Printf("RESULT ext_callback_ns %.2f\n", ns)
}
