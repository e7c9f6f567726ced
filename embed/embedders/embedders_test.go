package embedders

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsrflow/lsrflow/embed"
	"github.com/lsrflow/lsrflow/internal/testenv"
)

func TestModel2Vec(t *testing.T) {
	dir := filepath.Dir(testenv.SharedFile(t, "models/model2vec-bge-base-q128/model.safetensors"))
	e, err := Open(t.Context(), "model2vec:"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 64 || !strings.HasPrefix(e.Name(), "model2vec:") {
		t.Fatalf("dim %d name %q", e.Dim(), e.Name())
	}
}

func TestONNX(t *testing.T) {
	lib := testenv.CachePath(t, "ort", "ort", "libonnxruntime.so.1")
	dir := filepath.Join(t.TempDir(), "enc")
	out, err := exec.Command("/usr/bin/python3", "../onnx/testdata/make_encoder.py", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make_encoder.py: %v\n%s (run `scripts/setup.sh apt`)", err, out)
	}
	e, err := Open(t.Context(), "onnx:"+dir, Options{ORTLibrary: lib})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Close(e); err != nil {
			t.Error(err)
		}
	}()
	v, err := e.Embed(t.Context(), []string{"hello world"}, embed.Query)
	if err != nil || len(v[0]) != 32 {
		t.Fatalf("embed: %v %v", v, err)
	}
}

func TestOpenAI(t *testing.T) {
	var model string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		model = req.Model
		data := []map[string]any{}
		for i := range req.Input {
			data = append(data, map[string]any{"index": i, "embedding": []float32{1, 2, 3, 4}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	defer s.Close()
	e, err := Open(t.Context(), "openai:"+s.URL+"#bge-small", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 4 || model != "bge-small" {
		t.Fatalf("dim %d model %q", e.Dim(), model)
	}
}

type fixed struct{ arg string }

func (f fixed) Embed(context.Context, []string, embed.Kind) ([][]float32, error) { return nil, nil }
func (f fixed) Dim() int                                                         { return 1 }
func (f fixed) Name() string                                                     { return "glove:" + f.arg }

func TestExtraOpenerAndErrors(t *testing.T) {
	opts := Options{Openers: map[string]Opener{
		"glove": func(_ context.Context, arg string, _ Options) (embed.Embedder, error) { return fixed{arg}, nil },
	}}
	for spec, name := range map[string]string{"glove": "glove:", "glove:/x/y": "glove:/x/y"} {
		e, err := Open(t.Context(), spec, opts)
		if err != nil || e.Name() != name {
			t.Fatalf("%s: %v %v", spec, e, err)
		}
	}
	_, err := Open(t.Context(), "bm25:x", opts)
	if err == nil {
		t.Fatal("unknown scheme accepted")
	}
	for _, want := range []string{`"bm25:x"`, "glove", "model2vec:DIR", "onnx:DIR", "openai:URL[#MODEL]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, spec := range []string{"model2vec:", "onnx:", "openai:", "", "glove"} {
		if _, err := Open(t.Context(), spec, Options{}); err == nil {
			t.Errorf("spec %q accepted", spec)
		}
	}
}

func TestSpecForDir(t *testing.T) {
	m2v := filepath.Join(testenv.SharedDir(t), "models", "model2vec-bge-base-q128")
	testenv.SharedFile(t, "models/model2vec-bge-base-q128/model.safetensors")
	if spec, err := SpecForDir(m2v); err != nil || spec != "model2vec:"+m2v {
		t.Errorf("Model2Vec dir: %q %v", spec, err)
	}
	onnxDir := t.TempDir()
	os.WriteFile(filepath.Join(onnxDir, "model.onnx"), []byte("x"), 0o644)
	if spec, err := SpecForDir(onnxDir); err != nil || spec != "onnx:"+onnxDir {
		t.Errorf("ONNX dir: %q %v", spec, err)
	}
	if _, err := SpecForDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := SpecForDir("intfloat/e5-base-v2"); err == nil {
		t.Error("a hub id: no error")
	}
}
