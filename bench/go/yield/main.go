// yield: Go twin of bench/yield.c.  GOMAXPROCS=1; two goroutines each call
// runtime.Gosched() N times; the main goroutine waits on a WaitGroup.
// Prints the total time divided by the total number of yields.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

const (
	nYields = 5000000
	nWarmup = 100000
)

func round(n int) time.Duration {
	var wg sync.WaitGroup
	wg.Add(2)
	t0 := time.Now()
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

func main() {
	runtime.GOMAXPROCS(1)
	round(nWarmup)
	d := round(nYields)
	fmt.Printf("RESULT yield_ns %.2f\n", float64(d.Nanoseconds())/(2.0*nYields))
}
