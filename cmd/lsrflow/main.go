// Command lsrflow synthesizes retriever training data with LM teachers as a streaming
// dataflow. main only wires packages together; see `lsrflow help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lsrflow/lsrflow/internal/heapdump"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := func() {}
	if p := os.Getenv("LSRFLOW_HEAPPROFILE"); p != "" { // see docs/scale.md
		stopProfile = heapdump.Start(p, 500*time.Millisecond)
	}
	code := runCLI(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	stopProfile()
	os.Exit(code)
}
