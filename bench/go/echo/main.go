// echo: Go twin of examples/echo.c, the server bench/echo.sh measures.
// Usage: echo [port | host:port]   (default 127.0.0.1:7000; port 0 picks a free one)
// One goroutine per connection sends back every byte it reads, through a
// 16 KiB buffer; a connection idle for 60 s (no byte read, or a peer that
// stops reading the echo) is closed.  Prints one line when listening.
// GOMAXPROCS comes from the environment, as Go's runtime reads it.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const (
	idle     = 60 * time.Second
	bufBytes = 16384
)

func serveConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufBytes)
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		if n > 0 {
			c.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, os.ErrDeadlineExceeded) &&
				!strings.Contains(err.Error(), "connection reset") {
				fmt.Fprintf(os.Stderr, "echo: read: %v\n", err)
			}
			return
		}
	}
}

func main() {
	addr := "127.0.0.1:7000"
	if len(os.Args) > 2 {
		fmt.Fprintf(os.Stderr, "usage: %s [port | host:port]\n", os.Args[0])
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		addr = os.Args[1]
		if !strings.Contains(addr, ":") {
			if p, err := strconv.Atoi(addr); err != nil || p < 0 || p > 65535 {
				fmt.Fprintf(os.Stderr, "echo: bad address '%s': want a port (0..65535) or host:port\n", addr)
				os.Exit(2)
			}
			addr = "127.0.0.1:" + addr
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: cannot listen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("echo: listening on %s (GOMAXPROCS %d, idle timeout %ds)\n", ln.Addr(),
		runtime.GOMAXPROCS(0), int(idle/time.Second))
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() {
				fmt.Fprintf(os.Stderr, "echo: accept: %v; retrying in 100 ms\n", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			fmt.Fprintf(os.Stderr, "echo: accept: %v\n", err)
			os.Exit(1)
		}
		go serveConn(c)
	}
}
