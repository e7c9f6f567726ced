package adapter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSafetensorsRoundTripAndLayout(t *testing.T) {
	ts := []Tensor{
		{Name: "weight", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6.5}},
		{Name: "adam_m", Shape: []int{2}, F64: []float64{-1e-9, 3}},
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b)
	if (8+n)%8 != 0 {
		t.Errorf("header of %d bytes leaves data unaligned", n)
	}
	// F64 tensor "adam_m" sorts first: 16 bytes, then weight's 24.
	if len(b) != int(8+n+16+24) {
		t.Fatalf("file is %d bytes, want %d", len(b), 8+n+40)
	}
	got, meta, err := ReadSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" || got["weight"].F32[5] != 6.5 || got["adam_m"].F64[0] != -1e-9 || got["weight"].Shape[1] != 3 {
		t.Fatalf("round trip: %+v %v", got, meta)
	}
}

func TestSafetensorsRejectsCorruptFiles(t *testing.T) {
	var buf bytes.Buffer
	_ = WriteSafetensors(&buf, []Tensor{{Name: "w", Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}}}, nil)
	good := buf.Bytes()
	cases := map[string][]byte{
		"short":     good[:5],
		"truncated": good[:len(good)-3],
		"hugeheader": func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint64(b, 1<<40)
			return b
		}(),
		"badjson": append(append([]byte(nil), good[:8]...), bytes.Repeat([]byte("{"), len(good)-8)...),
	}
	for name, b := range cases {
		if _, _, err := ReadSafetensors(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteSafetensors(&buf, []Tensor{{Name: "w", Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}}}, map[string]string{"a": "b"})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, meta, err := ReadSafetensors(b)
		if err != nil {
			return
		}
		var out bytes.Buffer
		var list []Tensor
		for _, x := range ts {
			list = append(list, x)
		}
		if err := WriteSafetensors(&out, list, meta); err != nil {
			return // e.g. shape/value mismatch cannot happen, names may be odd
		}
		if _, _, err := ReadSafetensors(out.Bytes()); err != nil {
			t.Fatalf("re-encoded file does not read back: %v", err)
		}
	})
}

func TestCheckpointRoundTrip(t *testing.T) {
	d := 3
	w := []float64{1, 0.5, 0, 0, 1, 0, -0.25, 0, 2}
	meta := Metadata{Version: 4, BaseEmbedder: "glove-sif@x", Seed: 9, Steps: 100, DataDigest: "abc",
		Metrics: map[string]float64{"gold_recall@5": 0.8}, TrainIDs: []string{"q1", "q2"}, TrainQuestionHashes: []string{"h"}}
	l, err := NewLinear(d, w, meta)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.safetensors")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != l.Version() || got.Meta.Version != 4 || got.Meta.BaseEmbedder != "glove-sif@x" || got.Meta.Seed != 9 ||
		got.Meta.Metrics["gold_recall@5"] != 0.8 || len(got.Meta.TrainIDs) != 2 || got.Meta.DataDigest != "abc" {
		t.Fatalf("loaded %+v (%s), want %+v (%s)", got.Meta, got.Version(), meta, l.Version())
	}
	v := got.Apply([]float32{1, 2, 3})
	want := []float32{2, 2, 5.75}
	for i := range want {
		if v[i] != want[i] {
			t.Fatalf("Apply = %v, want %v", v, want)
		}
	}
	if n, ok := ParseVersion("glove@Flat/1+adapter:" + got.Version()); !ok || n != 4 {
		t.Fatalf("ParseVersion = %d %v", n, ok)
	}
	if n, ok := ParseVersion("glove@Flat/1"); !ok || n != 0 {
		t.Fatalf("ParseVersion without adapter = %d %v", n, ok)
	}
	if err := got.Check("other", 3); err == nil {
		t.Fatal("Check accepted another embedder")
	}
	// a tampered weight no longer matches the recorded version
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 0x40
	if _, _, err := Unmarshal(b); err == nil {
		t.Fatal("tampered checkpoint accepted")
	}
}
