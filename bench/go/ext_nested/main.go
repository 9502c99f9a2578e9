// ext_nested: Go twin of bench/ext_nested.c.  GOMAXPROCS=2.  One goroutine
// makes N cgo calls of the C function nested (in cnested.go), which calls
// the exported Go function goEmpty once; main waits for it.  Prints the
// goroutine's elapsed time divided by N.  A smaller warm-up round runs
// first.
package main

/*
// A file with //export may only declare in its preamble; the definition is
// in cnested.go.
extern void nested(void);
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
)

const (
	nTrips  = 1000000
	nWarmup = 50000
)

//export goEmpty
func goEmpty() {}

func run(n int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			C.nested()
		}
		done <- time.Since(t0)
	}()
	return <-done
}

func main() {
	runtime.GOMAXPROCS(2)
	run(nWarmup)
	d := run(nTrips)
	fmt.Printf("RESULT ext_nested_ns %.2f\n", float64(d.Nanoseconds())/nTrips)
}
