package streambench_test

import (
	"testing"

	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/streams/streambench"
)

// TestTwoStageCountsEveryRecord runs the topology small on the memory transport: every
// record reaches the counter and the result says so.
func TestTwoStageCountsEveryRecord(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	res, err := streambench.TwoStage(t.Context(), tr, streambench.Options{Records: 5000, Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 5000 || res.Elapsed <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func BenchmarkTwoStageMemory(b *testing.B) {
	for b.Loop() {
		tr := memory.New(memory.WithTrimCommitted())
		res, err := streambench.TwoStage(b.Context(), tr, streambench.Options{Records: 200000, Size: 1024})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.PerSecond(), "records/s")
		tr.Close()
	}
}
