// Package bm25ref runs the outside references that the BM25 analyzers and scorers are tested
// against: bm25s_ref.py (bm25s' tokenization and scoring rules, written from bm25s' source,
// with the real PyStemmer from Debian's python3-stemmer) and LuceneRef.java (the real Lucene
// from Debian's liblucene8-java: Anserini's analyzer chain, BM25Similarity, IndexSearcher).
// Both read and write lines; texts travel base64-encoded. For tests only.
package bm25ref

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/schemas"
)

// Python is Debian's interpreter, which has PyStemmer (python3-stemmer) installed by setup.
const Python = "/usr/bin/python3"

func dir(tb testing.TB) string {
	return filepath.Join(testenv.RepoRoot(tb), "retrieval", "bm25", "internal", "bm25ref")
}

// runLines runs cmd with the lines on stdin and returns its output lines.
func runLines(tb testing.TB, cmd *exec.Cmd, lines []string) []string {
	tb.Helper()
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	got := strings.Split(string(out), "\n")
	if len(got) > 0 && got[len(got)-1] == "" {
		got = got[:len(got)-1]
	}
	return got
}

// BM25S runs bm25s_ref.py with args (stem | analyze | search K1 B K).
func BM25S(tb testing.TB, args []string, lines []string) []string {
	tb.Helper()
	if _, err := os.Stat(Python); err != nil {
		tb.Fatalf("%s is missing: run `scripts/setup.sh apt`", Python)
	}
	cmd := exec.Command(Python, append([]string{filepath.Join(dir(tb), "bm25s_ref.py")}, args...)...)
	return runLines(tb, cmd, lines)
}

var javaOnce struct {
	sync.Once
	dir, cp string
	err     error
}

// Lucene compiles LuceneRef.java (once per test binary) and runs it with args
// (stem | analyze | search K1 B K).
func Lucene(tb testing.TB, args []string, lines []string) []string {
	tb.Helper()
	src := filepath.Join(dir(tb), "LuceneRef.java")
	javaOnce.Do(func() {
		var jars []string
		for _, p := range []string{"lucene-core-*.jar", "lucene-analyzers-common-*.jar"} {
			m, _ := filepath.Glob(filepath.Join("/usr/share/java", p))
			if len(m) == 0 {
				javaOnce.err = os.ErrNotExist
				return
			}
			sort.Strings(m)
			jars = append(jars, m[len(m)-1])
		}
		d, err := os.MkdirTemp("", "lucene-ref-")
		if err != nil {
			javaOnce.err = err
			return
		}
		javaOnce.dir, javaOnce.cp = d, strings.Join(jars, ":")
		if out, err := exec.Command("javac", "-cp", javaOnce.cp, "-d", d, src).CombinedOutput(); err != nil {
			javaOnce.err = &exec.Error{Name: "javac: " + string(out), Err: err}
		}
	})
	if javaOnce.err != nil {
		tb.Fatalf("Lucene reference unavailable (%v): run `scripts/setup.sh apt` (liblucene8-java, a JDK)", javaOnce.err)
	}
	cmd := exec.Command("java", append([]string{"-cp", javaOnce.cp + ":" + javaOnce.dir, "LuceneRef"}, args...)...)
	return runLines(tb, cmd, lines)
}

// B64 encodes texts one per line.
func B64(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	return out
}

// UnB64Fields decodes a line of space-separated base64 fields.
func UnB64Fields(tb testing.TB, line string) []string {
	var out []string
	for _, f := range strings.Fields(line) {
		b, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// QEDCorpus returns the contents of the shared QED corpus, in corpus order.
func QEDCorpus(tb testing.TB) []string { return readTexts(tb, "data/qed/corpus.jsonl") }

// Questions returns the questions of a shared dataset file (e.g. "data/qed/test.jsonl").
func Questions(tb testing.TB, rel string) []string { return readTexts(tb, rel) }

// SharedTexts returns the QED passages and the QED and NQ questions.
func SharedTexts(tb testing.TB) []string {
	var texts []string
	for _, rel := range []string{"data/qed/corpus.jsonl", "data/qed/train.jsonl", "data/qed/test.jsonl", "data/nq-open/test.jsonl", "data/nq-open/dev.jsonl"} {
		texts = append(texts, readTexts(tb, rel)...)
	}
	return texts
}

func readTexts(tb testing.TB, rel string) []string {
	tb.Helper()
	f, err := os.Open(testenv.SharedFile(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasSuffix(rel, "corpus.jsonl") {
			d, err := schemas.DecodeCorpusDoc(sc.Bytes())
			if err != nil {
				tb.Fatal(err)
			}
			texts = append(texts, d.Contents)
			continue
		}
		q, err := schemas.DecodeQuery(sc.Bytes())
		if err != nil {
			tb.Fatal(err)
		}
		texts = append(texts, q.Question)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return texts
}
