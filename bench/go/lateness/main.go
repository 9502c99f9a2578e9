// lateness: Go twin of bench/lateness.c.  GOMAXPROCS=2.
// lateness <scenario> [seconds], where the scenario is one of
//
//	idle     nothing else runs (the baseline)
//	spin     4 goroutines each run a plain CPU loop for the whole run
//	syscall  4 goroutines each loop on a raw blocking system call, then
//	         runtime.Gosched(): goroutines 0 and 1 syscall.Read one byte
//	         from their own pipe, which a pthread created in C writes to
//	         every 50 ms; goroutines 2 and 3 syscall.Nanosleep 20 ms
//	storm    64 pthreads created in C loop on usleep(50) and a call of the
//	         exported Go function goWork (2000 LCG steps)
//
// The load starts first; then a ticker goroutine calls time.Sleep(1ms)
// repeatedly for the given seconds (default 2) and records, per tick,
// lateness = the time it runs again - (the time before the sleep + 1 ms),
// from the monotonic clock.  At the end of the ticking, with the load still
// running, it counts the threads (/proc/self/task) and reads VmRSS; then it
// stops the load and waits for it.  Prints the same RESULT lines as the C
// program.
package main

/*
// A file with //export may only declare in its preamble; the definitions
// are in cthreads.go.
#include <stdint.h>
extern int startWriter(int w0, int w1);
extern int startStorm(int n);
extern void stopThreads(void);
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	hogs         = 4
	stormThreads = 64
	tick         = time.Millisecond
)

var (
	stop int32
	sink uint64
)

//export goWork
func goWork(arg C.uintptr_t) {
	x := uint64(arg)
	for i := 0; i < 2000; i++ {
		x = x*6364136223846793005 + 1
	}
	atomic.AddUint64(&sink, x)
}

func spinner(seed uint64, wg *sync.WaitGroup) {
	x := seed
	for atomic.LoadInt32(&stop) == 0 {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1
		}
	}
	atomic.AddUint64(&sink, x)
	wg.Done()
}

func blocker(i int, fd int, wg *sync.WaitGroup) {
	var b [1]byte
	for atomic.LoadInt32(&stop) == 0 {
		if i < 2 {
			if n, _ := syscall.Read(fd, b[:]); n <= 0 { // 0: the writer closed it
				break
			}
		} else {
			ts := syscall.Timespec{Nsec: 20000000}
			syscall.Nanosleep(&ts, nil)
		}
		runtime.Gosched()
	}
	wg.Done()
}

func countThreads() int {
	d, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	return len(d)
}

func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fs := strings.Fields(s.Text()); len(fs) >= 2 && fs[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(fs[1], 10, 64)
			return v
		}
	}
	return -1
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "lateness:", msg)
	os.Exit(1)
}

func main() {
	runtime.GOMAXPROCS(2)
	scenario := "idle"
	if len(os.Args) > 1 {
		scenario = os.Args[1]
	}
	duration := 2 * time.Second
	if len(os.Args) > 2 {
		if s, err := strconv.ParseFloat(os.Args[2], 64); err == nil && s > 0 {
			duration = time.Duration(s * 1e9)
		}
	}
	spin, sys, cb := scenario == "spin", scenario == "syscall", scenario == "storm"
	if !spin && !sys && !cb && scenario != "idle" {
		fmt.Fprintln(os.Stderr, "usage: lateness idle|spin|syscall|storm [seconds]")
		os.Exit(2)
	}

	var hogsDone sync.WaitGroup
	if spin || sys {
		var fds [2][2]int
		if sys {
			for i := range fds {
				if err := syscall.Pipe(fds[i][:]); err != nil {
					fail("pipe: " + err.Error())
				}
			}
		}
		hogsDone.Add(hogs)
		for i := 0; i < hogs; i++ {
			if spin {
				go spinner(uint64(i+1), &hogsDone)
			} else {
				fd := -1
				if i < 2 {
					fd = fds[i][0]
				}
				go blocker(i, fd, &hogsDone)
			}
		}
		if sys && C.startWriter(C.int(fds[0][1]), C.int(fds[1][1])) != 0 {
			fail("pthread_create failed")
		}
	}
	if cb && C.startStorm(stormThreads) != 0 {
		fail("pthread_create failed")
	}

	lateness := make([]time.Duration, 0, 4096)
	done := make(chan struct{})
	go func() {
		start := time.Now()
		now := start
		for now.Sub(start) < duration {
			deadline := now.Add(tick)
			time.Sleep(tick)
			now = time.Now()
			lateness = append(lateness, now.Sub(deadline))
		}
		close(done)
	}()
	<-done
	nthr := countThreads()
	rss := rssKiB()

	atomic.StoreInt32(&stop, 1)
	C.stopThreads()
	hogsDone.Wait()

	sort.Slice(lateness, func(i, j int) bool { return lateness[i] < lateness[j] })
	n := len(lateness)
	// Nearest rank, as bench/lateness.c.
	pct := func(p int) float64 {
		k := (p*n + 99) / 100
		if k < 1 {
			k = 1
		}
		if n == 0 {
			return 0
		}
		return float64(lateness[k-1].Nanoseconds()) / 1e3
	}
	fmt.Printf("lateness %s: %d ticks in %.1f s\n", scenario, n, duration.Seconds())
	fmt.Printf("RESULT lateness_%s_p50_us %.1f\n", scenario, pct(50))
	fmt.Printf("RESULT lateness_%s_p99_us %.1f\n", scenario, pct(99))
	fmt.Printf("RESULT lateness_%s_max_us %.1f\n", scenario, pct(100))
	fmt.Printf("RESULT threads_%s %d\n", scenario, nthr)
	fmt.Printf("RESULT rss_%s_kib %d\n", scenario, rss)
}
