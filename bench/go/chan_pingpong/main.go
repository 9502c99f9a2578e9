// chan_pingpong: Go twin of bench/chan_pingpong.c.
// Usage: chan_pingpong [procs [block_rate_ns [mutex_fraction [prefix]]]]
// (GOMAXPROCS = procs, default 1; the rest as in the C program: the block
// and mutex profiles for bench/contention.sh, package contention)
// A "ping" goroutine sends on c1 and receives the reply on c2; a "pong"
// goroutine receives on c1 and sends back on c2 (unbuffered chan int64).
// Prints the time per round trip as chan_rt_ns_<procs>p.
package main

import (
	"fmt"
	"grtbench/contention"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const (
	nTrips  = 2000000
	nWarmup = 50000
)

func run(n int) time.Duration {
	c1 := make(chan int64)
	c2 := make(chan int64)
	var wg sync.WaitGroup
	var d time.Duration
	wg.Add(2)
	go func() { // pong
		for v := range c1 {
			c2 <- v + 1
		}
		wg.Done()
	}()
	go func() { // ping
		t0 := time.Now()
		for i := int64(0); i < int64(n); i++ {
			c1 <- i
			if v := <-c2; v != i+1 {
				panic("unexpected value")
			}
		}
		d = time.Since(t0)
		close(c1)
		wg.Done()
	}()
	wg.Wait()
	return d
}

func main() {
	procs := 1
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 1 || n > 1024 {
			fmt.Fprintf(os.Stderr, "usage: %s [procs 1..1024]\n", os.Args[0])
			os.Exit(2)
		}
		procs = n
	}
	contention.Args(2)
	runtime.GOMAXPROCS(procs)
	contention.On()
	run(nWarmup)
	d := run(nTrips)
	fmt.Printf("RESULT chan_rt_ns_%dp %.2f\n", runtime.GOMAXPROCS(0),
		float64(d.Nanoseconds())/nTrips)
	contention.Write()
}
