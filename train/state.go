package train

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/lsrflow/lsrflow/retrieval/adapter"
)

// StateFormat is the "format" metadata of a trainer state file.
const StateFormat = "lsrflow-trainer-state/1"

// State returns the optimizer state as tensors and metadata: the parameter blocks
// ("param.N"), Adam's moments ("adam_m.N", "adam_v.N"), and in the metadata Adam's step
// count, the optimizer steps done, the random source (so sampling continues where it left
// off) and the configuration. extra metadata (the caller's version bookkeeping) is added.
func (t *Trainer) State(extra map[string]string) ([]adapter.Tensor, map[string]string, error) {
	rngState, err := t.src.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	hyper, err := json.Marshal(t.Cfg.Hyper())
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{"format": StateFormat, "dim": strconv.Itoa(t.Params.D), "rank": strconv.Itoa(t.Params.Rank),
		"steps": strconv.Itoa(t.StepsDone), "adam_t": strconv.Itoa(t.opt.t), "rng": base64.StdEncoding.EncodeToString(rngState),
		"hyper": string(hyper), "learn_lex": strconv.FormatBool(t.Params.LogLex != nil)}
	for k, v := range extra {
		if _, clash := meta[k]; clash {
			return nil, nil, fmt.Errorf("train: state metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	var ts []adapter.Tensor
	for i, v := range t.Params.vectors() {
		ts = append(ts, adapter.Tensor{Name: "param." + strconv.Itoa(i), Shape: []int{len(v)}, F64: v})
		if t.opt.m != nil {
			ts = append(ts, adapter.Tensor{Name: "adam_m." + strconv.Itoa(i), Shape: []int{len(v)}, F64: t.opt.m[i]},
				adapter.Tensor{Name: "adam_v." + strconv.Itoa(i), Shape: []int{len(v)}, F64: t.opt.v[i]})
		}
	}
	return ts, meta, nil
}

// SaveState writes State atomically to path (a safetensors file).
func (t *Trainer) SaveState(path string, extra map[string]string) error {
	ts, meta, err := t.State(extra)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := adapter.WriteSafetensors(&buf, ts, meta); err != nil {
		return err
	}
	return adapter.WriteFileAtomic(path, buf.Bytes())
}

// ErrStateMismatch is returned when a state file does not fit the trainer (another
// dimension, rank or lexical-weight setting).
var ErrStateMismatch = errors.New("train: the saved trainer state does not fit this configuration")

// LoadState restores a state written by SaveState into t (built with the same dimension,
// rank and LearnLex) and returns the file's metadata (the caller's extra keys included).
// The random source, Adam's moments and step count and the parameters are restored; the
// dataset is not (rebuild it from the records first).
func (t *Trainer) LoadState(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ts, meta, err := adapter.ReadSafetensors(b)
	if err != nil {
		return nil, fmt.Errorf("train: state %s: %w", path, err)
	}
	if meta["format"] != StateFormat {
		return nil, fmt.Errorf("train: %s is not a trainer state (format %q)", path, meta["format"])
	}
	if meta["dim"] != strconv.Itoa(t.Params.D) || meta["rank"] != strconv.Itoa(t.Params.Rank) ||
		meta["learn_lex"] != strconv.FormatBool(t.Params.LogLex != nil) {
		return nil, fmt.Errorf("%w: %s has dim %s rank %s learn_lex %s", ErrStateMismatch, path, meta["dim"], meta["rank"], meta["learn_lex"])
	}
	blocks := t.Params.vectors()
	get := func(name string, n int) ([]float64, error) {
		x, ok := ts[name]
		if !ok || x.F64 == nil || len(x.F64) != n {
			return nil, fmt.Errorf("%w: tensor %s missing or of the wrong size", ErrStateMismatch, name)
		}
		return x.F64, nil
	}
	params := make([][]float64, len(blocks))
	var m, v [][]float64
	for i, blk := range blocks {
		if params[i], err = get("param."+strconv.Itoa(i), len(blk)); err != nil {
			return nil, err
		}
		if _, ok := ts["adam_m."+strconv.Itoa(i)]; ok {
			mi, err := get("adam_m."+strconv.Itoa(i), len(blk))
			if err != nil {
				return nil, err
			}
			vi, err := get("adam_v."+strconv.Itoa(i), len(blk))
			if err != nil {
				return nil, err
			}
			m, v = append(m, mi), append(v, vi)
		}
	}
	if m != nil && len(m) != len(blocks) {
		return nil, fmt.Errorf("%w: Adam moments for %d of %d blocks", ErrStateMismatch, len(m), len(blocks))
	}
	steps, err1 := strconv.Atoi(meta["steps"])
	adamT, err2 := strconv.Atoi(meta["adam_t"])
	rngState, err3 := base64.StdEncoding.DecodeString(meta["rng"])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateMismatch, err)
	}
	if err := t.src.UnmarshalBinary(rngState); err != nil {
		return nil, fmt.Errorf("%w: rng: %v", ErrStateMismatch, err)
	}
	for i, blk := range blocks {
		copy(blk, params[i])
	}
	t.opt.m, t.opt.v, t.opt.t = m, v, adamT
	t.StepsDone = steps
	t.perm, t.pos = nil, 0
	return meta, nil
}
