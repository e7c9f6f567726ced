package bm25

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the index decoder: it must return an error or an index
// that verifies or searches without panicking or allocating beyond what the input describes.
func FuzzDecode(f *testing.F) {
	for _, docs := range [][]string{{"river bank money", "bank of the river"}, {"", "a b c a", "c d"}, nil} {
		p := filepath.Join(f.TempDir(), "seed")
		buildFile(f, docs, Options{Params: DefaultParams()}, p)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(fileMagic))
	f.Add([]byte(oldMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		try(data)
		// The header is checksummed, so most mutations stop there; also try the input with its
		// checksum recomputed, which lets mutated counts and section bounds through.
		if len(data) >= headerSize && string(data[:len(fileMagic)]) == fileMagic {
			fixed := append([]byte(nil), data...)
			binary.LittleEndian.PutUint32(fixed[headerCRCOffset:], crc32.ChecksumIEEE(fixed[:headerCRCOffset]))
			try(fixed)
		}
	})
}

func try(data []byte) {
	ix, err := Decode(data)
	if err != nil {
		return
	}
	ix.Verify()
	ix.Search("river bank c", 3)
	ix.SearchExhaustive("river bank c", 3)
}
