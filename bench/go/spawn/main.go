// spawn: Go twin of bench/spawn.c.  GOMAXPROCS=2.  A driver goroutine adds
// 10^6 to a WaitGroup, starts 10^6 goroutines that each call wg.Done, and
// waits.  Prints the driver's elapsed time divided by the number of
// goroutines.  A smaller warm-up round runs first.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

const (
	nGoroutines = 1000000
	nWarmup     = 10000
)

func run(n int) time.Duration {
	done := make(chan time.Duration)
	go func() { // driver
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(n)
		for i := 0; i < n; i++ {
			go wg.Done()
		}
		wg.Wait()
		done <- time.Since(t0)
	}()
	return <-done
}

func main() {
	runtime.GOMAXPROCS(2)
	run(nWarmup)
	d := run(nGoroutines)
	fmt.Printf("RESULT spawn_ns %.2f\n", float64(d.Nanoseconds())/nGoroutines)
}
