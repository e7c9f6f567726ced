package schemas

import (
	"slices"
	"testing"
)

// Multiple-choice rows (FlashRAG's mmlu-style datasets: "choices" plus golden_answers holding
// indexes) decode with the chosen texts as golden answers, as get_dataset_answer resolves
// them; indexes follow Python's list indexing.
func TestMultipleChoiceRows(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`{"id":"m1","question":"2+2?","choices":["3","4","5"],"golden_answers":[1]}`, []string{"4"}},
		{`{"id":"m2","question":"q","choices":["a","b","c"],"golden_answers":[0,2]}`, []string{"a", "c"}},
		{`{"id":"m3","question":"q","choices":["a","b","c"],"golden_answers":[-1]}`, []string{"c"}},
		// strings stay strings, choices or not
		{`{"id":"m4","question":"q","choices":["a"],"golden_answers":["free text"]}`, []string{"free text"}},
	} {
		q, err := DecodeQuery([]byte(tc.line))
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if !slices.Equal(q.GoldenAnswers, tc.want) {
			t.Errorf("%s: golden %q, want %q", tc.line, q.GoldenAnswers, tc.want)
		}
	}
	for _, bad := range []string{
		`{"id":"b1","question":"q","golden_answers":[1]}`,
		`{"id":"b2","question":"q","choices":[],"golden_answers":[0]}`,
		`{"id":"b3","question":"q","choices":["a","b"],"golden_answers":[2]}`,
		`{"id":"b4","question":"q","choices":["a","b"],"golden_answers":[-3]}`,
		`{"id":"b5","question":"q","choices":"ab","golden_answers":[0]}`,
	} {
		_, err := DecodeQuery([]byte(bad))
		if err == nil {
			t.Errorf("%s: accepted", bad)
			continue
		}
		if ReasonOf(err) != ReasonInvalid {
			t.Errorf("%s: reason %q", bad, ReasonOf(err))
		}
	}
}

func TestSeedAnswerRoundTrip(t *testing.T) {
	q, err := DecodeQuery([]byte(`{"id":"s","question":"q","golden_answers":["a","b"],"seed_answer":"b"}`))
	if err != nil || q.SeedAnswer != "b" {
		t.Fatalf("%+v %v", q, err)
	}
	b, _ := Encode(q)
	q2, err := DecodeQuery(b)
	if err != nil || q2.SeedAnswer != "b" {
		t.Fatalf("round trip: %s -> %+v %v", b, q2, err)
	}
}

// FlashRAG's load_corpus: without "contents" the row's "text" is the contents, alone.
func TestCorpusContentsOrText(t *testing.T) {
	for line, want := range map[string]string{
		`{"id":"1","contents":"T\nbody"}`:                     "T\nbody",
		`{"id":"2","title":"T","text":"body"}`:                "body",
		`{"id":"3","contents":"c","title":"T","text":"body"}`: "c",
	} {
		d, err := DecodeCorpusDoc([]byte(line))
		if err != nil || d.Contents != want {
			t.Errorf("%s: %q %v, want %q", line, d.Contents, err, want)
		}
	}
	if _, err := DecodeCorpusDoc([]byte(`{"id":"4","title":"only a title"}`)); err == nil {
		t.Error("a row with a title only: accepted")
	}
}
