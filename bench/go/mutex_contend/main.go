// mutex_contend: Go twin of bench/mutex_contend.c.
// Usage: mutex_contend [procs [block_rate_ns [mutex_fraction [prefix]]]]
// (GOMAXPROCS = procs, default 2; the rest as in the C program: the block
// and mutex profiles for bench/contention.sh, package contention)
// nG goroutines each run their share of the operations: lock a sync.Mutex,
// eight multiply-add steps on the shared state plus a shared counter,
// unlock, eight steps on their own state.  Prints the round's time (first
// go statement to the wait group's release) per operation as
// mutex_op_ns_<procs>p.
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
	nG      = 8
	nOps    = 2000000
	nWarmup = 50000
	steps   = 8
)

var (
	mu          sync.Mutex
	sharedState uint64
	counter     int64
	sink        uint64
)

func worker(n int64, seed uint64, wg *sync.WaitGroup) {
	x := seed
	for i := int64(0); i < n; i++ {
		mu.Lock()
		s := sharedState
		for k := 0; k < steps; k++ {
			s = s*6364136223846793005 + 1442695040888963407
		}
		sharedState = s
		counter++
		mu.Unlock()
		for k := 0; k < steps; k++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
	wg.Done()
}

func run(n int64) time.Duration {
	var wg sync.WaitGroup
	counter = 0
	wg.Add(nG)
	t0 := time.Now()
	for i := 0; i < nG; i++ {
		go worker(n/nG, uint64(i)+1, &wg)
	}
	wg.Wait()
	d := time.Since(t0)
	if counter != n/nG*nG {
		panic("wrong counter")
	}
	return d
}

func main() {
	procs := 2
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 1 || n > 1024 {
			fmt.Fprintf(os.Stderr, "usage: %s [procs 1..1024 [block_rate_ns [mutex_fraction [prefix]]]]\n", os.Args[0])
			os.Exit(2)
		}
		procs = n
	}
	contention.Args(2)
	runtime.GOMAXPROCS(procs)
	contention.On()
	run(nWarmup)
	d := run(nOps)
	fmt.Printf("RESULT mutex_op_ns_%dp %.2f\n", runtime.GOMAXPROCS(0),
		float64(d.Nanoseconds())/nOps)
	contention.Write()
}
