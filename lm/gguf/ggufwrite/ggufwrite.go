// Package ggufwrite writes small random-weight GGUF models of the llama architecture, for tests
// and benchmarks: no model weights can be downloaded on the build machines, and speed and
// numerical agreement do not depend on the weights.
//
// The tokenizer is taken from an existing GGUF file (a llama.cpp vocab-only file such as
// models/ggml-vocab-llama-spm.gguf): every tokenizer.ggml.* key-value pair is copied byte for
// byte. Weights are drawn from a seeded generator, so the same Spec always gives the same file.
// Functions here hold no state and are safe for concurrent use on different paths.
package ggufwrite

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
)

// GGUF value types (gguf.md).
const (
	tUint8   = 0
	tInt8    = 1
	tUint16  = 2
	tInt16   = 3
	tUint32  = 4
	tInt32   = 5
	tFloat32 = 6
	tBool    = 7
	tString  = 8
	tArray   = 9
	tUint64  = 10
	tInt64   = 11
	tFloat64 = 12
)

// ggml tensor types used here.
const (
	ggmlF32 = 0
	ggmlF16 = 1
)

const alignment = 32

// Spec describes the model to write.
type Spec struct {
	Embd, Layers, Heads, HeadsKV, FF int
	CtxTrain                         int
	// F16 stores the 2-D weight matrices as float16 (norms stay float32, as llama.cpp wants).
	F16  bool
	Seed uint64
	// Std is the standard deviation of the random weights (default 0.02*sqrt(512/Embd)-ish: 0.05).
	Std float64
}

// Tiny is a test-sized model: 64 wide, 2 layers.
func Tiny(seed uint64) Spec {
	return Spec{Embd: 64, Layers: 2, Heads: 4, HeadsKV: 4, FF: 128, CtxTrain: 4096, Seed: seed}
}

// Bench is the ~50M-parameter benchmark model (with a 32k vocab): 512 wide, 8 layers, float16.
func Bench(seed uint64) Spec {
	return Spec{Embd: 512, Layers: 8, Heads: 8, HeadsKV: 8, FF: 1408, CtxTrain: 4096, F16: true, Seed: seed}
}

type kv struct {
	key string
	raw []byte // value type (u32) + value, as on disk
}

// readString reads a GGUF string (u64 length + bytes).
func readString(r io.Reader) (string, error) {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return "", err
	}
	if n > 1<<30 {
		return "", fmt.Errorf("string of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

var scalarSize = map[uint32]int{tUint8: 1, tInt8: 1, tUint16: 2, tInt16: 2, tUint32: 4, tInt32: 4, tFloat32: 4, tBool: 1, tUint64: 8, tInt64: 8, tFloat64: 8}

// copyValue copies one value of type t from r to w.
func copyValue(r io.Reader, w io.Writer, t uint32) error {
	if n, ok := scalarSize[t]; ok {
		_, err := io.CopyN(w, r, int64(n))
		return err
	}
	switch t {
	case tString:
		s, err := readString(r)
		if err != nil {
			return err
		}
		writeString(w, s)
		return nil
	case tArray:
		var et uint32
		var n uint64
		if err := binary.Read(r, binary.LittleEndian, &et); err != nil {
			return err
		}
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return err
		}
		_ = binary.Write(w, binary.LittleEndian, et)
		_ = binary.Write(w, binary.LittleEndian, n)
		if sz, ok := scalarSize[et]; ok {
			_, err := io.CopyN(w, r, int64(sz)*int64(n))
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := copyValue(r, w, et); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown GGUF value type %d", t)
}

type byteBuf struct{ b []byte }

func (b *byteBuf) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// ReadTokenizerKVs returns the tokenizer.ggml.* key-value pairs of a GGUF file, raw.
func readTokenizerKVs(path string) ([]kv, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ggufwrite: open vocab: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr struct {
		Magic   [4]byte
		Version uint32
		NTensor uint64
		NKV     uint64
	}
	if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
		return nil, fmt.Errorf("ggufwrite: %s header: %w", path, err)
	}
	if string(hdr.Magic[:]) != "GGUF" || hdr.Version < 2 {
		return nil, fmt.Errorf("ggufwrite: %s is not a GGUF v2+ file", path)
	}
	var out []kv
	for i := uint64(0); i < hdr.NKV; i++ {
		key, err := readString(r)
		if err != nil {
			return nil, fmt.Errorf("ggufwrite: %s kv %d: %w", path, i, err)
		}
		var t uint32
		if err := binary.Read(r, binary.LittleEndian, &t); err != nil {
			return nil, err
		}
		var buf byteBuf
		_ = binary.Write(&buf, binary.LittleEndian, t)
		if err := copyValue(r, &buf, t); err != nil {
			return nil, fmt.Errorf("ggufwrite: %s key %s: %w", path, key, err)
		}
		if strings.HasPrefix(key, "tokenizer.ggml.") {
			out = append(out, kv{key: key, raw: buf.b})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("ggufwrite: vocab file has no tokenizer.ggml.* keys")
	}
	return out, nil
}

func writeString(w io.Writer, s string) {
	_ = binary.Write(w, binary.LittleEndian, uint64(len(s)))
	_, _ = io.WriteString(w, s)
}

func kvU32(key string, v uint32) kv {
	var b byteBuf
	_ = binary.Write(&b, binary.LittleEndian, uint32(tUint32))
	_ = binary.Write(&b, binary.LittleEndian, v)
	return kv{key, b.b}
}

func kvF32(key string, v float32) kv {
	var b byteBuf
	_ = binary.Write(&b, binary.LittleEndian, uint32(tFloat32))
	_ = binary.Write(&b, binary.LittleEndian, v)
	return kv{key, b.b}
}

func kvStr(key, v string) kv {
	var b byteBuf
	_ = binary.Write(&b, binary.LittleEndian, uint32(tString))
	writeString(&b, v)
	return kv{key, b.b}
}

// vocabSize returns the number of entries of tokenizer.ggml.tokens.
func vocabSize(kvs []kv) (int, error) {
	for _, e := range kvs {
		if e.key == "tokenizer.ggml.tokens" && len(e.raw) >= 16 {
			return int(binary.LittleEndian.Uint64(e.raw[8:16])), nil
		}
	}
	return 0, errors.New("ggufwrite: tokenizer.ggml.tokens missing")
}

type tensor struct {
	name string
	dims []uint64 // ne0 first
	typ  uint32
}

func (t tensor) nbytes() uint64 {
	n := uint64(1)
	for _, d := range t.dims {
		n *= d
	}
	if t.typ == ggmlF16 {
		return 2 * n
	}
	return 4 * n
}

func pad(n uint64) uint64 { return (n + alignment - 1) / alignment * alignment }

// Write writes a random-weight llama model with the tokenizer of vocabPath to path.
func Write(path, vocabPath string, s Spec) error {
	if s.Embd <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.Embd%s.Heads != 0 || s.FF <= 0 {
		return fmt.Errorf("ggufwrite: bad spec %+v", s)
	}
	if s.HeadsKV == 0 {
		s.HeadsKV = s.Heads
	}
	if s.CtxTrain == 0 {
		s.CtxTrain = 4096
	}
	std := s.Std
	if std == 0 {
		std = 0.05
	}
	tok, err := readTokenizerKVs(vocabPath)
	if err != nil {
		return err
	}
	nv, err := vocabSize(tok)
	if err != nil {
		return err
	}
	kvs := []kv{
		kvStr("general.architecture", "llama"),
		kvStr("general.name", fmt.Sprintf("lsrflow-random-%dx%d-seed%d", s.Embd, s.Layers, s.Seed)),
		kvU32("general.alignment", alignment),
		kvU32("general.file_type", map[bool]uint32{false: 0, true: 1}[s.F16]), // ALL_F32 / MOSTLY_F16
		kvU32("llama.context_length", uint32(s.CtxTrain)),
		kvU32("llama.embedding_length", uint32(s.Embd)),
		kvU32("llama.block_count", uint32(s.Layers)),
		kvU32("llama.feed_forward_length", uint32(s.FF)),
		kvU32("llama.attention.head_count", uint32(s.Heads)),
		kvU32("llama.attention.head_count_kv", uint32(s.HeadsKV)),
		kvU32("llama.rope.dimension_count", uint32(s.Embd/s.Heads)),
		kvF32("llama.attention.layer_norm_rms_epsilon", 1e-5),
		kvU32("llama.vocab_size", uint32(nv)),
	}
	kvs = append(kvs, tok...)

	mat := uint32(ggmlF32)
	if s.F16 {
		mat = ggmlF16
	}
	e, ff, v := uint64(s.Embd), uint64(s.FF), uint64(nv)
	kvDim := e / uint64(s.Heads) * uint64(s.HeadsKV)
	ts := []tensor{{"token_embd.weight", []uint64{e, v}, mat}, {"output_norm.weight", []uint64{e}, ggmlF32}, {"output.weight", []uint64{e, v}, mat}}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensor{p + "attn_norm.weight", []uint64{e}, ggmlF32},
			tensor{p + "attn_q.weight", []uint64{e, e}, mat},
			tensor{p + "attn_k.weight", []uint64{e, kvDim}, mat},
			tensor{p + "attn_v.weight", []uint64{e, kvDim}, mat},
			tensor{p + "attn_output.weight", []uint64{e, e}, mat},
			tensor{p + "ffn_norm.weight", []uint64{e}, ggmlF32},
			tensor{p + "ffn_gate.weight", []uint64{e, ff}, mat},
			tensor{p + "ffn_up.weight", []uint64{e, ff}, mat},
			tensor{p + "ffn_down.weight", []uint64{ff, e}, mat},
		)
	}

	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("ggufwrite: %w", err)
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: w}
	_, _ = cw.Write([]byte("GGUF"))
	_ = binary.Write(cw, binary.LittleEndian, uint32(3))
	_ = binary.Write(cw, binary.LittleEndian, uint64(len(ts)))
	_ = binary.Write(cw, binary.LittleEndian, uint64(len(kvs)))
	for _, e := range kvs {
		writeString(cw, e.key)
		_, _ = cw.Write(e.raw)
	}
	off := uint64(0)
	for _, t := range ts {
		writeString(cw, t.name)
		_ = binary.Write(cw, binary.LittleEndian, uint32(len(t.dims)))
		for _, d := range t.dims {
			_ = binary.Write(cw, binary.LittleEndian, d)
		}
		_ = binary.Write(cw, binary.LittleEndian, t.typ)
		_ = binary.Write(cw, binary.LittleEndian, off)
		off = pad(off + t.nbytes())
	}
	cw.padTo(alignment)
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	buf := make([]byte, 0, 1<<16)
	for _, t := range ts {
		n := t.nbytes()
		isNorm := len(t.dims) == 1
		elems := n / 4
		if t.typ == ggmlF16 {
			elems = n / 2
		}
		for i := uint64(0); i < elems; i++ {
			x := float32(1)
			if !isNorm {
				x = float32(rng.NormFloat64() * std)
			}
			if t.typ == ggmlF16 {
				buf = binary.LittleEndian.AppendUint16(buf, F32ToF16(x))
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			}
			if len(buf) >= 1<<16-8 {
				_, _ = cw.Write(buf)
				buf = buf[:0]
			}
		}
		_, _ = cw.Write(buf)
		buf = buf[:0]
		cw.padTo(alignment)
	}
	if cw.err != nil {
		f.Close()
		return fmt.Errorf("ggufwrite: write %s: %w", tmp, cw.err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("ggufwrite: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ggufwrite: %w", err)
	}
	return os.Rename(tmp, path)
}

type countWriter struct {
	w   io.Writer
	n   uint64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += uint64(n)
	c.err = err
	return n, err
}

func (c *countWriter) padTo(a uint64) {
	if r := c.n % a; r != 0 {
		_, _ = c.Write(make([]byte, a-r))
	}
}

// F32ToF16 converts to IEEE half precision, rounding to nearest even.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	mant := b & 0x7fffff
	if exp == 0xff { // inf / nan
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is correct rounding
	}
	return sign | uint16(h)
}
