package static

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
)

type qedQuestion struct {
	ID       string   `json:"id"`
	Question string   `json:"question"`
	Gold     []string `json:"gold_doc_ids"`
}

func readJSONL[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var gloveCache struct {
	v   *Vectors
	err error
}

func loadGlove(t testing.TB) *Vectors {
	t.Helper()
	if gloveCache.v == nil && gloveCache.err == nil {
		gloveCache.v, gloveCache.err = LoadBinary(testenv.CachePath(t, "glove", GloveFile))
	}
	if gloveCache.err != nil {
		t.Fatal(gloveCache.err)
	}
	return gloveCache.v
}

// goldRecall ranks the corpus for each question by cosine (a float64 scan over the unit
// vectors) and returns the share of questions with a gold document in the top k, per k.
func goldRecall(t testing.TB, s *SIF, ks []int) map[int]float64 {
	t.Helper()
	docs := readJSONL[struct {
		ID       string `json:"id"`
		Contents string `json:"contents"`
	}](t, testenv.SharedFile(t, "data/qed/corpus.jsonl"))
	qs := readJSONL[qedQuestion](t, testenv.SharedFile(t, "data/qed/test.jsonl"))
	dv := make([][]float32, len(docs))
	for i, d := range docs {
		dv[i] = s.Vector(d.Contents)
	}
	hits := map[int]int{}
	for _, q := range qs {
		qv := s.Vector(q.Question)
		type sc struct {
			i int
			s float64
		}
		scores := make([]sc, len(docs))
		for i, v := range dv {
			var dot float64
			for j := range v {
				dot += float64(v[j]) * float64(qv[j])
			}
			scores[i] = sc{i, dot}
		}
		sort.SliceStable(scores, func(a, b int) bool { return scores[a].s > scores[b].s })
		gold := map[string]bool{}
		for _, g := range q.Gold {
			gold[g] = true
		}
		for _, k := range ks {
			for _, x := range scores[:k] {
				if gold[docs[x.i].ID] {
					hits[k]++
					break
				}
			}
		}
	}
	out := map[int]float64{}
	for _, k := range ks {
		out[k] = float64(hits[k]) / float64(len(qs))
	}
	return out
}

func TestQEDGoldRecall(t *testing.T) {
	vec := loadGlove(t)
	docs := readJSONL[struct {
		Contents string `json:"contents"`
	}](t, testenv.SharedFile(t, "data/qed/corpus.jsonl"))
	corpus := make([]string, len(docs))
	for i, d := range docs {
		corpus[i] = d.Contents
	}
	s, err := Fit(t.Context(), vec, corpus, FitOptions{VectorsName: GloveName})
	if err != nil {
		t.Fatal(err)
	}
	r := goldRecall(t, s, []int{1, 5, 20})
	t.Logf("GloVe SIF on qed/test: gold@1 %.3f @5 %.3f @20 %.3f (reference 0.462 / 0.657 / 0.779)", r[1], r[5], r[20])
	if r[1] < 0.45 || r[20] < 0.77 {
		t.Errorf("gold recall @1 %.3f (want >= 0.45), @20 %.3f (want >= 0.77)", r[1], r[20])
	}
}
