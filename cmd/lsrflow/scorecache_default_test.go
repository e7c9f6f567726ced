package main

import (
	"path/filepath"
	"testing"

	"github.com/lsrflow/lsrflow/pipeline"
)

// An LM teacher in synth keeps its score cache in the output directory by default, so that a
// candidate set redelivered after a crash costs no LM call; explicit choices are kept.
func TestDurableScoreCacheDefault(t *testing.T) {
	out := t.TempDir()
	want := filepath.Join(out, "lm-score-cache.jsonl")
	cases := []struct {
		name string
		tc   pipeline.TeacherConfig
		want string // the cache option after the default, "" = none
	}{
		{"lsr default", pipeline.TeacherConfig{Method: "lsr"}, want},
		{"explicit cache", pipeline.TeacherConfig{Method: "lsr", Options: map[string]string{"cache": "/x/c.jsonl"}}, "/x/c.jsonl"},
		{"cache off", pipeline.TeacherConfig{Method: "upr", Options: map[string]string{"no_cache": "true"}}, ""},
		{"no_cache=false keeps the default", pipeline.TeacherConfig{Method: "seed", Options: map[string]string{"no_cache": "false"}}, want},
		{"answer-match has no LM", pipeline.TeacherConfig{Method: "answer-match"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := map[string]string{}
			for k, v := range c.tc.Options {
				orig[k] = v
			}
			got := withDurableScoreCache(c.tc, out)
			if got.Options["cache"] != c.want {
				t.Errorf("cache option %q, want %q", got.Options["cache"], c.want)
			}
			if len(c.tc.Options) != len(orig) {
				t.Errorf("the caller's options map was modified")
			}
		})
	}
}
