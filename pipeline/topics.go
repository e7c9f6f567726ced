package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
)

// Topics names the topology's topics.
type Topics struct {
	Queries     string `yaml:"queries"`
	Candidates  string `yaml:"candidates"`
	Scored      string `yaml:"scored"`
	DeadLetters string `yaml:"dead_letters"`
	// Metrics carries the evaluate stage's per-query retrieval metrics.
	Metrics string `yaml:"metrics"`
	// Updates carries retriever updates (adapter checkpoints) from train to retrieve;
	// compacted on Kafka: only the latest version per key matters.
	Updates string `yaml:"retriever_updates"`
}

// DefaultTopics returns topic names with a prefix (e.g. a run id) so that runs sharing a Kafka
// cluster do not read each other's records.
func DefaultTopics(prefix string) Topics {
	if prefix != "" {
		prefix += "."
	}
	return Topics{
		Queries:     prefix + "queries",
		Candidates:  prefix + "candidates",
		Scored:      prefix + "scored",
		DeadLetters: prefix + "dead-letters",
		Metrics:     prefix + "metrics",
		Updates:     prefix + "retriever-updates",
	}
}

// RunID derives a stable run id from the output directory, used as the topic prefix on Kafka.
func RunID(outDir string) string {
	sum := sha256.Sum256([]byte(outDir))
	return "lsrflow-" + hex.EncodeToString(sum[:4])
}
