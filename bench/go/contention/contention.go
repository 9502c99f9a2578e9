// Package contention: the block and mutex profile arguments shared by the
// Go twins that bench/contention.sh runs (the twin of benchutil.h's
// bench_contention_*): "[block_rate_ns [mutex_fraction [prefix]]]".
package contention

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

var (
	blockRate     int
	mutexFraction int
	prefix        string
)

// Args parses os.Args[first:]; it exits with status 2 on a bad argument.
func Args(first int) {
	a := os.Args
	var err error
	if len(a) > first {
		if blockRate, err = strconv.Atoi(a[first]); err != nil || blockRate < 0 {
			usage()
		}
	}
	if len(a) > first+1 {
		if mutexFraction, err = strconv.Atoi(a[first+1]); err != nil || mutexFraction < 0 {
			usage()
		}
	}
	if len(a) > first+2 {
		prefix = a[first+2]
	}
	if len(a) > first+3 {
		usage()
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "%s: bad profile arguments: [block_rate_ns [mutex_fraction [prefix]]]\n", os.Args[0])
	os.Exit(2)
}

// On turns the profiles asked for on (before the warm-up round).
func On() {
	if blockRate > 0 {
		runtime.SetBlockProfileRate(blockRate)
	}
	if mutexFraction > 0 {
		runtime.SetMutexProfileFraction(mutexFraction)
	}
}

// Write writes both profiles to <prefix>.block.pb.gz and .mutex.pb.gz when a
// prefix was given; it exits with status 1 if it cannot.
func Write() {
	if prefix == "" {
		return
	}
	for _, kind := range []string{"block", "mutex"} {
		f, err := os.Create(prefix + "." + kind + ".pb.gz")
		if err == nil {
			err = pprof.Lookup(kind).WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
