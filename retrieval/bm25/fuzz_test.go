package bm25

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the index decoder: it must return an error or a
// usable index, never panic or allocate beyond what the input can describe.
func FuzzDecode(f *testing.F) {
	b, _ := NewBuilder(DefaultParams())
	b.Add("a", "river bank money")
	b.Add("b", "bank of the river")
	var buf bytes.Buffer
	if err := b.Build().encode(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(fileMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := decode(data)
		if err != nil {
			return
		}
		ix.Search("river bank", 3)
	})
}
