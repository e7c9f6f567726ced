package memory_test

import (
	"fmt"
	"testing"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
)

// BenchmarkPublishFetchCommit measures one message through the embedded transport: publish,
// fetch, commit (the per-record overhead every stage pays).
func BenchmarkPublishFetchCommit(b *testing.B) {
	ctx := b.Context()
	tr := memory.New(memory.WithDefaultPartitions(3))
	defer tr.Close()
	c, err := tr.Subscribe(ctx, "t", "g")
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 512)
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "q-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := tr.Publish(ctx, "t", streams.Message{Key: keys[i%len(keys)], Value: value}); err != nil {
			b.Fatal(err)
		}
		m, err := c.Fetch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Commit(ctx, m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
