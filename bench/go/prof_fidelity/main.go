// prof_fidelity: Go twin of bench/prof_fidelity.c, run by
// bench/prof_fidelity.sh to compare the CPU profiler's overhead, magnitude
// and 70/30 attribution with Go's.  GOMAXPROCS=2; two goroutines each run
// MITERS million iterations of the same multiply-add chain in calls of hog70
// and hog30 (7:3 iteration counts, the same xorshift sequence of pair
// lengths).  runtime.SetCPUProfileRate(hz) comes before
// pprof.StartCPUProfile, which then warns on stderr that it cannot set the
// rate (harmless: the rate set first stays).  The CPU time is getrusage
// (RUSAGE_SELF) user + sys from just after the start to just before the
// stop; the stop's wall time is printed apart.
//
// Usage: prof_fidelity HZ PATH [MITERS]   (HZ 0: no profiling).
// Prints one line: "hz=H cpu_ns=C wall_ns=W stop_ns=S".
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const slice = 30000 // iterations per hog70 + hog30 pair: slice/2 .. 3*slice/2

var sink uint64

//go:noinline
func hog70(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

//go:noinline
func hog30(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

func worker(seed uint64, miters int, wg *sync.WaitGroup) {
	rnd, x := seed, seed
	total := miters * 1000000
	for done := 0; done < total; {
		rnd ^= rnd << 13 // xorshift64
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		k := slice/20 + int(rnd%(slice/10)) // pair = 10 k iterations
		x = hog70(x, 7*k)
		x = hog30(x, 3*k)
		done += 10 * k
	}
	sink = x
	wg.Done()
}

func rusageCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "prof_fidelity: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintf(os.Stderr, "usage: %s HZ PATH [MITERS]\n", os.Args[0])
		os.Exit(2)
	}
	hz, err1 := strconv.Atoi(os.Args[1])
	miters, err2 := 1000, error(nil)
	if len(os.Args) == 4 {
		miters, err2 = strconv.Atoi(os.Args[3])
	}
	if err1 != nil || err2 != nil || hz < 0 || miters <= 0 {
		fail("bad HZ or MITERS")
	}
	runtime.GOMAXPROCS(2)

	var f *os.File
	if hz > 0 {
		var err error
		if f, err = os.Create(os.Args[2]); err != nil {
			fail("%v", err)
		}
		runtime.SetCPUProfileRate(hz)
		if err := pprof.StartCPUProfile(f); err != nil {
			fail("StartCPUProfile: %v", err)
		}
	}
	cpu0, t0 := rusageCPU(), time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go worker(1, miters, &wg)
	go worker(2, miters, &wg)
	wg.Wait()
	cpu, wall := rusageCPU()-cpu0, time.Since(t0)
	var stop time.Duration
	if hz > 0 {
		s0 := time.Now()
		pprof.StopCPUProfile()
		stop = time.Since(s0)
		if err := f.Close(); err != nil {
			fail("%v", err)
		}
	}
	fmt.Printf("hz=%d cpu_ns=%d wall_ns=%d stop_ns=%d\n", hz, cpu, wall.Nanoseconds(), stop.Nanoseconds())
}
