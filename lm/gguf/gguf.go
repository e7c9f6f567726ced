package gguf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hybridgroup/yzma/pkg/llama"

	"github.com/lsrflow/lsrflow/lm"
	"github.com/lsrflow/lsrflow/streams"
)

// Options configure a Model.
type Options struct {
	// LibDir holds libllama.so, libggml.so and the ggml CPU backends.
	LibDir string
	// ContextSize is the longest text in tokens (per sequence). Default 2048.
	ContextSize int
	// Threads for decoding. Default: the number of CPUs.
	Threads int
	// BatchSize is the largest number of tokens per llama_decode call. Default 2048.
	BatchSize int
}

var (
	initOnce sync.Once
	initErr  error
	initDir  string
)

// initLibrary loads libllama once per process (see package doc).
func initLibrary(dir string) error {
	initOnce.Do(func() {
		initDir = dir
		if _, err := os.Stat(filepath.Join(dir, "libllama.so")); err != nil {
			initErr = fmt.Errorf("gguf: libllama.so not found in %s (run scripts/setup.sh llama): %w", dir, err)
			return
		}
		if err := llama.Load(dir); err != nil {
			initErr = fmt.Errorf("gguf: load libllama from %s: %w", dir, err)
			return
		}
		llama.LogSet(llama.LogSilent())
		llama.Init()
	})
	if initErr == nil && filepath.Clean(dir) != filepath.Clean(initDir) {
		return fmt.Errorf("gguf: libllama already loaded from %s, cannot load from %s", initDir, dir)
	}
	return initErr
}

// Model is a loaded GGUF model with one context.
type Model struct {
	mu     sync.Mutex
	model  llama.Model
	lctx   llama.Context
	mem    llama.Memory
	vocab  llama.Vocab
	nVocab int
	nCtx   int
	nBatch int
	addBOS bool
	bos    llama.Token
	batch  llama.Batch
	info   lm.Info
	closed bool

	calls, requests, tokens, outputs atomic.Int64
}

const (
	seqPrefix llama.SeqId = 0
	seqWork   llama.SeqId = 1
)

// Open loads the model at path.
func Open(path string, o Options) (*Model, error) {
	if o.ContextSize <= 0 {
		o.ContextSize = 2048
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2048
	}
	if err := initLibrary(o.LibDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, streams.Permanent("lm-config", fmt.Errorf("gguf: model %s: %w", path, err))
	}
	mp := llama.ModelDefaultParams()
	mp.SetCPUOnly()
	model, err := llama.ModelLoadFromFile(path, mp)
	if err != nil || model == 0 {
		return nil, fmt.Errorf("gguf: load %s: %v", path, err)
	}
	cp := llama.ContextDefaultParams()
	cp.NSeqMax = 2
	cp.NCtx = uint32(2 * o.ContextSize)
	cp.NBatch = uint32(o.BatchSize)
	cp.NUbatch = uint32(min(o.BatchSize, 512))
	cp.NThreads = int32(o.Threads)
	cp.NThreadsBatch = int32(o.Threads)
	cp.FlashAttentionType = llama.FlashAttentionTypeDisabled
	cp.KVUnified = 0
	cp.NoPerf = 1
	lctx, err := llama.InitFromModel(model, cp)
	if err != nil || lctx == 0 {
		_ = llama.ModelFree(model)
		return nil, fmt.Errorf("gguf: create context for %s: %v", path, err)
	}
	mem, err := llama.GetMemory(lctx)
	if err != nil {
		_ = llama.Free(lctx)
		_ = llama.ModelFree(model)
		return nil, fmt.Errorf("gguf: memory: %w", err)
	}
	vocab := llama.ModelGetVocab(model)
	m := &Model{
		model: model, lctx: lctx, mem: mem, vocab: vocab,
		nVocab: int(llama.VocabNTokens(vocab)),
		nCtx:   int(llama.NCtxSeq(lctx)),
		nBatch: int(llama.NBatch(lctx)),
		addBOS: llama.VocabGetAddBOS(vocab),
		bos:    llama.VocabBOS(vocab),
	}
	m.batch = llama.BatchInit(int32(m.nBatch), 0, 1)
	name := strings.TrimSuffix(filepath.Base(path), ".gguf")
	if v, ok := llama.ModelMetaValStr(model, "general.name"); ok && v != "" {
		name = v
	}
	m.info = lm.Info{
		Backend:     "gguf",
		Tokenizer:   "gguf",
		Model:       name,
		Precision:   strings.ToLower(llama.FtypeName(llama.ModelFtype(model))) + "-cpu",
		ContextSize: m.nCtx,
	}
	return m, nil
}

// Info describes the model.
func (m *Model) Info() lm.Info { return m.info }

// Counters returns cumulative work counters.
func (m *Model) Counters() lm.Counters {
	return lm.Counters{Calls: m.calls.Load(), Requests: m.requests.Load(), Tokens: m.tokens.Load(), Outputs: m.outputs.Load()}
}

// Close frees the context and the model. It is safe to call more than once.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	_ = llama.BatchFree(m.batch)
	_ = llama.Free(m.lctx)
	return llama.ModelFree(m.model)
}

var errClosed = streams.Permanent("lm-closed", errors.New("gguf: model is closed"))

// Tokenize returns the tokens of text as the model sees it: BOS (when the vocabulary adds one
// and the text does not start with it) followed by the text, with special tokens in the text
// (chat-template markers) parsed.
func (m *Model) Tokenize(text string) []llama.Token {
	toks := llama.Tokenize(m.vocab, text, false, true)
	if m.addBOS && (len(toks) == 0 || toks[0] != m.bos) {
		// A text that already starts with BOS (a chat template) keeps its one BOS.
		toks = append([]llama.Token{m.bos}, toks...)
	}
	return toks
}

func (m *Model) piece(t llama.Token, buf []byte) string {
	n := llama.TokenToPiece(m.vocab, t, buf, 0, true)
	if n < 0 {
		big := make([]byte, -n)
		n = llama.TokenToPiece(m.vocab, t, big, 0, true)
		return string(big[:max(n, 0)])
	}
	return string(buf[:n])
}

// prepared is one request, tokenized.
type prepared struct {
	toks  []llama.Token
	first int // index of the first target token
}

func (m *Model) prepare(reqs []lm.Request) ([]prepared, error) {
	out := make([]prepared, len(reqs))
	tok := lm.WithMemo(vocabTokenizer{m}, 2*len(reqs)+2)
	for i, r := range reqs {
		if r.Target == "" {
			return nil, streams.Permanent("lm-bad-request", fmt.Errorf("gguf: request %d has an empty target", i))
		}
		// The request's layout (lm.EncodeRequest): lm-evaluation-harness' split, or the seed
		// teacher's separately encoded prompt and target.
		p, err := lm.EncodeRequest(context.Background(), tok, r)
		if err != nil {
			return nil, streams.Permanent("lm-bad-request", fmt.Errorf("gguf: request %d: %w", i, err))
		}
		toks := make([]llama.Token, len(p.IDs))
		for j, id := range p.IDs {
			toks[j] = llama.Token(id)
		}
		if len(toks) > m.nCtx {
			return nil, &lm.OverflowError{Index: i, Tokens: len(toks), Limit: m.nCtx}
		}
		out[i] = prepared{toks: toks, first: p.ContextLen}
	}
	return out, nil
}

// vocabTokenizer is the model's own vocabulary as an lm.Tokenizer.
type vocabTokenizer struct{ m *Model }

func (v vocabTokenizer) Encode(_ context.Context, text string) ([]int, error) {
	toks := llama.Tokenize(v.m.vocab, text, false, true)
	ids := make([]int, len(toks))
	for i, t := range toks {
		ids[i] = int(t)
	}
	return ids, nil
}

func (v vocabTokenizer) Prefix(context.Context) ([]int, error) {
	if v.m.addBOS {
		return []int{int(v.m.bos)}, nil
	}
	return nil, nil
}

func (v vocabTokenizer) Source() string { return "gguf" }

// decode runs toks at positions pos0.. in seq, requesting logits at the given offsets within
// toks (sorted ascending). It returns, for each requested offset, the log-softmax value of
// next[k] (the token that follows), computed in float64.
func (m *Model) decode(ctx context.Context, seq llama.SeqId, toks []llama.Token, pos0 int, outAt []int, next []llama.Token) ([]float64, error) {
	return m.decodeKeep(ctx, seq, toks, pos0, outAt, next, nil)
}

// decodeKeep is decode that also copies the logits of the first requested output into *keep
// when keep is not nil.
func (m *Model) decodeKeep(ctx context.Context, seq llama.SeqId, toks []llama.Token, pos0 int, outAt []int, next []llama.Token, keep *[]float32) ([]float64, error) {
	lps := make([]float64, 0, len(outAt))
	oi := 0
	for start := 0; start < len(toks); start += m.nBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+m.nBatch, len(toks))
		_ = m.batch.Clear()
		var idx []int32
		var nxt []llama.Token
		for j := start; j < end; j++ {
			want := oi < len(outAt) && outAt[oi] == j
			if err := m.batch.Add(toks[j], llama.Pos(pos0+j), []llama.SeqId{seq}, want); err != nil {
				return nil, fmt.Errorf("gguf: batch: %w", err)
			}
			if want {
				idx = append(idx, int32(j-start))
				nxt = append(nxt, next[oi])
				oi++
			}
		}
		rc, err := llama.Decode(m.lctx, m.batch)
		m.calls.Add(1)
		m.tokens.Add(int64(end - start))
		m.outputs.Add(int64(len(idx)))
		if err != nil || rc != 0 {
			return nil, fmt.Errorf("gguf: llama_decode returned %d: %v", rc, err)
		}
		for k, bi := range idx {
			logits, err := llama.GetLogitsIth(m.lctx, bi, m.nVocab)
			if err != nil || logits == nil {
				return nil, fmt.Errorf("gguf: logits at %d: %v", bi, err)
			}
			if keep != nil && *keep == nil {
				*keep = append([]float32(nil), logits...)
			}
			if nxt[k] < 0 { // logits computed but not needed (FullLogits outside the target)
				lps = append(lps, 0)
				continue
			}
			lps = append(lps, lm.LogSoftmaxAt(logits, int(nxt[k])))
		}
	}
	return lps, nil
}

func (m *Model) clear(seq llama.SeqId) error {
	_, err := llama.MemorySeqRm(m.mem, seq, -1, -1)
	return err
}

// Score scores reqs with prefix reuse (see package doc).
func (m *Model) Score(ctx context.Context, reqs []lm.Request) ([]lm.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	preps, err := m.prepare(reqs)
	if err != nil {
		return nil, err
	}
	res := make([]lm.Result, len(reqs))
	if len(reqs) == 0 {
		return res, nil
	}
	// Global prefix: the common start of every stem, leaving at least one stem token to decode.
	p := preps[0].first - 1
	for _, pr := range preps[1:] {
		p = min(p, pr.first-1)
		for j := 0; j < p; j++ {
			if pr.toks[j] != preps[0].toks[j] {
				p = j
				break
			}
		}
	}
	if err := m.clear(seqPrefix); err != nil {
		return nil, fmt.Errorf("gguf: clear: %w", err)
	}
	if err := m.clear(seqWork); err != nil {
		return nil, fmt.Errorf("gguf: clear: %w", err)
	}
	if p > 0 {
		if _, err := m.decode(ctx, seqPrefix, preps[0].toks[:p], 0, nil, nil); err != nil {
			return nil, err
		}
	}
	// Group requests by stem, in order of first appearance.
	groups := map[string][]int{}
	var order []string
	for i, pr := range preps {
		k := tokKey(pr.toks[:pr.first])
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		members := groups[k]
		lead := preps[members[0]]
		stemLen := lead.first
		if err := m.clear(seqWork); err != nil {
			return nil, fmt.Errorf("gguf: clear: %w", err)
		}
		if p > 0 {
			if err := llama.MemorySeqCp(m.mem, seqPrefix, seqWork, -1, -1); err != nil {
				return nil, fmt.Errorf("gguf: seq copy: %w", err)
			}
		}
		// Stem tail plus the first member's target, outputs from the last stem token on.
		toks := lead.toks[p : len(lead.toks)-1] // the last target token is never an input
		var outAt []int
		var next []llama.Token
		for j := stemLen - 1; j < len(lead.toks)-1; j++ {
			outAt = append(outAt, j-p)
			next = append(next, lead.toks[j+1])
		}
		// Keep the logits after the stem when other targets branch from it.
		var stemLogits []float32
		keep := &stemLogits
		if len(members) == 1 {
			keep = nil
		}
		lps, err := m.decodeKeep(ctx, seqWork, toks, p, outAt, next, keep)
		if err != nil {
			return nil, err
		}
		res[members[0]] = lm.Result{TokenLogprobs: lps, Tokens: len(lead.toks)}
		for _, mi := range members[1:] {
			pr := preps[mi]
			lp0 := lm.LogSoftmaxAt(stemLogits, int(pr.toks[stemLen]))
			branch := pr.toks[stemLen:]
			out := []float64{lp0}
			if len(branch) > 1 {
				if _, err := llama.MemorySeqRm(m.mem, seqWork, llama.Pos(stemLen), -1); err != nil {
					return nil, fmt.Errorf("gguf: seq rm: %w", err)
				}
				at := make([]int, len(branch)-1)
				for j := range at {
					at[j] = j
				}
				more, err := m.decode(ctx, seqWork, branch[:len(branch)-1], stemLen, at, branch[1:])
				if err != nil {
					return nil, err
				}
				out = append(out, more...)
			}
			res[mi] = lm.Result{TokenLogprobs: out, Tokens: len(pr.toks)}
		}
	}
	m.requests.Add(int64(len(reqs)))
	return res, nil
}

func tokKey(t []llama.Token) string {
	var b strings.Builder
	b.Grow(4 * len(t))
	for _, x := range t {
		b.WriteByte(byte(x))
		b.WriteByte(byte(x >> 8))
		b.WriteByte(byte(x >> 16))
		b.WriteByte(byte(x >> 24))
	}
	return b.String()
}

// Mode selects how ScoreOne evaluates a single request (for comparisons and the benchmark).
type Mode int

const (
	// FullLogits decodes the whole text in one call with logits at every position, as a
	// plain transformers forward pass does (the earlier experiment's loop).
	FullLogits Mode = iota
	// TokenByToken decodes one token per call.
	TokenByToken
)

// ScoreOne scores one request from an empty cache, with no prefix reuse.
func (m *Model) ScoreOne(ctx context.Context, r lm.Request, mode Mode) (lm.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return lm.Result{}, errClosed
	}
	preps, err := m.prepare([]lm.Request{r})
	if err != nil {
		return lm.Result{}, err
	}
	pr := preps[0]
	if err := m.clear(seqWork); err != nil {
		return lm.Result{}, err
	}
	n := len(pr.toks)
	var lps []float64
	switch mode {
	case FullLogits:
		at := make([]int, n)
		nxt := make([]llama.Token, n)
		for j := range at {
			at[j] = j
			nxt[j] = -1
			if j >= pr.first-1 && j+1 < n {
				nxt[j] = pr.toks[j+1]
			}
		}
		all, err := m.decode(ctx, seqWork, pr.toks, 0, at, nxt)
		if err != nil {
			return lm.Result{}, err
		}
		lps = all[pr.first-1 : n-1]
	case TokenByToken:
		for j := 0; j < n-1; j++ {
			var at []int
			var nxt []llama.Token
			if j >= pr.first-1 {
				at, nxt = []int{0}, []llama.Token{pr.toks[j+1]}
			}
			out, err := m.decode(ctx, seqWork, pr.toks[j:j+1], j, at, nxt)
			if err != nil {
				return lm.Result{}, err
			}
			lps = append(lps, out...)
		}
	default:
		return lm.Result{}, fmt.Errorf("gguf: unknown mode %d", mode)
	}
	m.requests.Add(1)
	return lm.Result{TokenLogprobs: lps, Tokens: n}, nil
}

// DecodeOnly decodes text from an empty cache with no outputs at all and returns its number
// of tokens: the model's raw prompt-processing work, the ceiling for throughput.
func (m *Model) DecodeOnly(ctx context.Context, text string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errClosed
	}
	toks := m.Tokenize(text)
	if len(toks) > m.nCtx {
		return 0, &lm.OverflowError{Tokens: len(toks), Limit: m.nCtx}
	}
	if err := m.clear(seqWork); err != nil {
		return 0, err
	}
	_, err := m.decode(ctx, seqWork, toks, 0, nil, nil)
	return len(toks), err
}

// CountTokens returns the number of tokens of text (with BOS).
func (m *Model) CountTokens(text string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.Tokenize(text))
}

// Generate continues prompt greedily (argmax) with at most maxTokens tokens, stopping at an
// end-of-generation token or at the first stop string.
func (m *Model) Generate(ctx context.Context, prompt string, maxTokens int, stop []string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", errClosed
	}
	toks := m.Tokenize(prompt)
	if len(toks)+maxTokens > m.nCtx {
		return "", &lm.OverflowError{Tokens: len(toks) + maxTokens, Limit: m.nCtx}
	}
	if err := m.clear(seqWork); err != nil {
		return "", err
	}
	var out strings.Builder
	buf := make([]byte, 256)
	cur := toks
	pos := 0
	for step := 0; step < maxTokens; step++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		_ = m.batch.Clear()
		for j, t := range cur {
			if err := m.batch.Add(t, llama.Pos(pos+j), []llama.SeqId{seqWork}, j == len(cur)-1); err != nil {
				return "", err
			}
		}
		rc, err := llama.Decode(m.lctx, m.batch)
		m.calls.Add(1)
		m.tokens.Add(int64(len(cur)))
		if err != nil || rc != 0 {
			return "", fmt.Errorf("gguf: llama_decode returned %d: %v", rc, err)
		}
		pos += len(cur)
		logits, err := llama.GetLogitsIth(m.lctx, int32(len(cur)-1), m.nVocab)
		if err != nil || logits == nil {
			return "", fmt.Errorf("gguf: logits: %v", err)
		}
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		t := llama.Token(best)
		if llama.VocabIsEOG(m.vocab, t) {
			break
		}
		out.WriteString(m.piece(t, buf))
		if s, ok := cutStop(out.String(), stop); ok {
			return s, nil
		}
		cur = []llama.Token{t}
	}
	return out.String(), nil
}

func cutStop(s string, stop []string) (string, bool) {
	for _, st := range stop {
		if st == "" {
			continue
		}
		if i := strings.Index(s, st); i >= 0 {
			return s[:i], true
		}
	}
	return s, false
}

// Detokenize renders tokens with libllama's own detokenizer (special tokens removed).
func (m *Model) Detokenize(toks []llama.Token) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return llama.Detokenize(m.vocab, toks, true, false)
}
