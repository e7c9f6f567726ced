package adapter

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// Tensor is one named tensor: F32 or F64 data in row-major order.
type Tensor struct {
	Name  string
	Shape []int
	// Exactly one of F32 and F64 is set.
	F32 []float32
	F64 []float64
}

func (t Tensor) count() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

type tensorHeader struct {
	Dtype   string    `json:"dtype"`
	Shape   []int     `json:"shape"`
	Offsets [2]uint64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header a reader accepts (100 MB, as the reference implementation).
const maxHeader = 100 << 20

// WriteSafetensors writes tensors and string metadata in the safetensors format.
func WriteSafetensors(w io.Writer, tensors []Tensor, meta map[string]string) error {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off uint64
	var data bytes.Buffer
	sorted := append([]Tensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, t := range sorted {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: bad tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		n := t.count()
		var dtype string
		switch {
		case t.F32 != nil && t.F64 == nil:
			if len(t.F32) != n {
				return fmt.Errorf("safetensors: tensor %s has %d values for shape %v", t.Name, len(t.F32), t.Shape)
			}
			dtype = "F32"
			for _, v := range t.F32 {
				_ = binary.Write(&data, binary.LittleEndian, math.Float32bits(v))
			}
		case t.F64 != nil && t.F32 == nil:
			if len(t.F64) != n {
				return fmt.Errorf("safetensors: tensor %s has %d values for shape %v", t.Name, len(t.F64), t.Shape)
			}
			dtype = "F64"
			for _, v := range t.F64 {
				_ = binary.Write(&data, binary.LittleEndian, math.Float64bits(v))
			}
		default:
			return fmt.Errorf("safetensors: tensor %s needs exactly one of F32, F64", t.Name)
		}
		end := uint64(data.Len())
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = tensorHeader{Dtype: dtype, Shape: shape, Offsets: [2]uint64{off, end}}
		off = end
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hb)))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(hb); err != nil {
		return err
	}
	_, err = w.Write(data.Bytes())
	return err
}

// ErrFormat is wrapped by every ReadSafetensors error about the file's contents.
var ErrFormat = errors.New("not a valid safetensors file")

// ReadSafetensors decodes a whole safetensors file: F32 and F64 tensors (other dtypes are an
// error) and the string metadata.
func ReadSafetensors(b []byte) (map[string]Tensor, map[string]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: %w", fmt.Sprintf(format, args...), ErrFormat)
	}
	if len(b) < 8 {
		return nil, nil, bad("file of %d bytes is too short", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, nil, bad("header length %d exceeds the file (%d bytes)", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, nil, bad("header: %v", err)
	}
	data := b[8+n:]
	meta := map[string]string{}
	out := map[string]Tensor{}
	type span struct {
		lo, hi uint64
		name   string
	}
	var spans []span
	for name, r := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(r, &meta); err != nil {
				return nil, nil, bad("metadata: %v", err)
			}
			continue
		}
		var h tensorHeader
		if err := json.Unmarshal(r, &h); err != nil {
			return nil, nil, bad("tensor %s: %v", name, err)
		}
		count := uint64(1)
		for _, d := range h.Shape {
			if d < 0 || (d > 0 && count > math.MaxUint32/uint64(d)) {
				return nil, nil, bad("tensor %s: bad shape %v", name, h.Shape)
			}
			count *= uint64(d)
		}
		var size uint64
		switch h.Dtype {
		case "F32":
			size = 4
		case "F64":
			size = 8
		default:
			return nil, nil, bad("tensor %s: dtype %q is not supported (F32, F64)", name, h.Dtype)
		}
		lo, hi := h.Offsets[0], h.Offsets[1]
		if lo > hi || hi > uint64(len(data)) {
			return nil, nil, bad("tensor %s: offsets %v outside the %d data bytes", name, h.Offsets, len(data))
		}
		if hi-lo != count*size {
			return nil, nil, bad("tensor %s: %d bytes for shape %v of %s", name, hi-lo, h.Shape, h.Dtype)
		}
		spans = append(spans, span{lo, hi, name})
		buf := data[lo:hi]
		t := Tensor{Name: name, Shape: h.Shape}
		if size == 4 {
			t.F32 = make([]float32, count)
			for i := range t.F32 {
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		} else {
			t.F64 = make([]float64, count)
			for i := range t.F64 {
				t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
			}
		}
		out[name] = t
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo < spans[i-1].hi {
			return nil, nil, bad("tensors %s and %s overlap", spans[i-1].name, spans[i].name)
		}
	}
	return out, meta, nil
}
