// Package heapdump writes a Go heap profile near the peak of a process's heap, for finding what
// holds memory in a long run (LSRFLOW_HEAPPROFILE=FILE lsrflow ...; then go tool pprof FILE).
//
// Contract: Start samples the heap every interval; each time the in-use heap exceeds the last
// profiled peak by 10%, it rewrites the profile at path (temp file + rename), so the file ends
// up describing the heap at (or within 10% of) its peak. The profile covers Go allocations
// only: memory that C libraries (FAISS, ONNX Runtime) allocate shows in RssAnon, not here.
// The returned stop function ends sampling and writes a final profile if none was written.
package heapdump

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Start begins sampling; stop ends it.
func Start(path string, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak+peak/10 {
				peak = ms.HeapInuse
				write(path)
			}
			select {
			case <-done:
				if peak == 0 {
					write(path)
				}
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func write(path string) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return
	}
	if f.Close() == nil {
		os.Rename(path+".tmp", path)
	}
}
