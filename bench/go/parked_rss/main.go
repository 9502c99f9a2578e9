// parked_rss: Go twin of bench/parked_rss.c.  GOMAXPROCS=2.  Reads VmRSS
// from /proc/self/status, starts 10^5 goroutines that each block receiving
// from one shared unbuffered channel, waits until all have started plus
// 100 ms, reads VmRSS again and prints (after - before) / 10^5 in KiB.
// Then closes the channel and waits for them all to finish.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

const nParked = 100000

// vmRSSKiB returns VmRSS in KiB, or -1.
func vmRSSKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[len("VmRSS:"):])
			if len(fields) > 0 {
				if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func main() {
	runtime.GOMAXPROCS(2)
	c := make(chan struct{})
	var started, finished sync.WaitGroup
	before := vmRSSKiB()
	started.Add(nParked)
	finished.Add(nParked)
	for i := 0; i < nParked; i++ {
		go func() {
			started.Done()
			<-c // parks until the channel is closed
			finished.Done()
		}()
	}
	started.Wait()
	time.Sleep(100 * time.Millisecond)
	after := vmRSSKiB()
	if before < 0 || after < 0 {
		fmt.Fprintln(os.Stderr, "parked_rss: cannot read VmRSS from /proc/self/status")
		os.Exit(1)
	}
	close(c)
	finished.Wait()
	fmt.Printf("RESULT parked_kib %.3f\n", float64(after-before)/nParked)
}
