package arrowipc_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/sinks/arrowipc"
)

// FuzzReadBytes: no input crashes the Arrow IPC reader; errors carry a reason; whatever
// decodes re-encodes through the sink and reads back to the same records.
func FuzzReadBytes(f *testing.F) {
	dir := f.TempDir()
	s, err := arrowipc.Open(f.Context(), arrowipc.Config{Dir: dir, BatchRows: 2})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Write(f.Context(), record(i)); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "scored.arrow"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x5a
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()
		recs, err := arrowipc.ReadBytes(ctx, data)
		if err != nil {
			if schemas.ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(recs) == 0 {
			return
		}
		// re-encode in memory (no fsyncs: keeps the fuzzer fast)
		var buf bytes.Buffer
		w, err := arrowipc.IPC{}.NewWriter(&buf, 64)
		if err != nil {
			t.Fatal(err)
		}
		b := arrowipc.NewBuilder(nil)
		defer b.Release()
		for _, r := range recs {
			b.Append(r)
		}
		batch := b.NewBatch()
		defer batch.Release()
		if err := w.Write(batch); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := arrowipc.ReadBytes(ctx, buf.Bytes())
		if err != nil || !sameRecords(got, recs) {
			t.Fatalf("re-encode round trip: %v\n got %+v\nwant %+v", err, got, recs)
		}
	})
}

// sameRecords compares records as their JSON encodings would (NaN equals NaN).
func sameRecords(a, b []schemas.Scored) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) && fmt.Sprintf("%#v", a[i]) != fmt.Sprintf("%#v", b[i]) {
			return false
		}
	}
	return true
}
