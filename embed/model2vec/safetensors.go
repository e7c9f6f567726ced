package model2vec

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// tensor is one decoded safetensors entry, widened to float64 or int64.
type tensor struct {
	dtype string
	shape []int
	f     []float64
	i     []int64
}

// readSafetensors decodes the named tensors of a safetensors file: an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian
// data. Missing names are simply absent from the result.
func readSafetensors(path string, names ...string) (map[string]*tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors %s: file too short", path)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors %s: header length %d exceeds file", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("safetensors %s: header: %w", path, err)
	}
	data := b[8+n:]
	out := map[string]*tensor{}
	for _, name := range names {
		raw, ok := header[name]
		if !ok {
			continue
		}
		var h struct {
			Dtype   string    `json:"dtype"`
			Shape   []int     `json:"shape"`
			Offsets [2]uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, fmt.Errorf("safetensors %s: tensor %s: %w", path, name, err)
		}
		if h.Offsets[0] > h.Offsets[1] || h.Offsets[1] > uint64(len(data)) {
			return nil, fmt.Errorf("safetensors %s: tensor %s: offsets %v out of range", path, name, h.Offsets)
		}
		buf := data[h.Offsets[0]:h.Offsets[1]]
		count := 1
		for _, d := range h.Shape {
			count *= d
		}
		t := &tensor{dtype: h.Dtype, shape: h.Shape}
		size := map[string]int{"F64": 8, "F32": 4, "F16": 2, "I64": 8, "I32": 4, "I8": 1}[h.Dtype]
		if size == 0 {
			return nil, fmt.Errorf("safetensors %s: tensor %s: dtype %s not supported", path, name, h.Dtype)
		}
		if len(buf) != count*size {
			return nil, fmt.Errorf("safetensors %s: tensor %s: %d bytes for %d %s values", path, name, len(buf), count, h.Dtype)
		}
		switch h.Dtype {
		case "F64":
			t.f = make([]float64, count)
			for k := range t.f {
				t.f[k] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*k:]))
			}
		case "F32":
			t.f = make([]float64, count)
			for k := range t.f {
				t.f[k] = float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*k:])))
			}
		case "F16":
			t.f = make([]float64, count)
			for k := range t.f {
				t.f[k] = halfToFloat(binary.LittleEndian.Uint16(buf[2*k:]))
			}
		case "I64":
			t.i = make([]int64, count)
			for k := range t.i {
				t.i[k] = int64(binary.LittleEndian.Uint64(buf[8*k:]))
			}
		case "I32":
			t.i = make([]int64, count)
			for k := range t.i {
				t.i[k] = int64(int32(binary.LittleEndian.Uint32(buf[4*k:])))
			}
		case "I8":
			t.i = make([]int64, count)
			for k := range t.i {
				t.i[k] = int64(int8(buf[k]))
			}
		}
		out[name] = t
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 31:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}
