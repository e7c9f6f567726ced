package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
)

// StreamStateFile pairs an output directory with the topics its runs published to. A resumed
// run trusts what those topics hold only when the file names the same topics: an output
// directory pointed at a fresh cluster (or a fresh directory at an old cluster) publishes
// everything that is not finished.
const StreamStateFile = "stream-state.json"

type streamState struct {
	Queries     string `json:"queries_topic"`
	DeadLetters string `json:"dead_letters_topic"`
}

// published reads back, when the output directory's state names these topics and the
// transport can read a topic, which queries and which ingest dead letters an earlier run
// already published: their keys. A restarted run publishes only the others; the consumer
// groups carry on with the published ones from their committed offsets.
func published(ctx context.Context, tr streams.Transport, outDir string, t Topics) (queries, dead map[string]bool, err error) {
	rd, ok := tr.(streams.TopicReader)
	if !ok {
		return nil, nil, nil
	}
	b, err := os.ReadFile(filepath.Join(outDir, StreamStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var st streamState
	if err := json.Unmarshal(b, &st); err != nil || st.Queries != t.Queries || st.DeadLetters != t.DeadLetters {
		return nil, nil, nil // another run's topics: trust nothing
	}
	queries = map[string]bool{}
	if err := rd.ReadTopic(ctx, t.Queries, func(m streams.Message) error {
		queries[string(m.Key)] = true
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("reading back %s: %w", t.Queries, err)
	}
	dead = map[string]bool{}
	if err := rd.ReadTopic(ctx, t.DeadLetters, func(m streams.Message) error {
		if d, err := schemas.DecodeDeadLetter(m.Value); err == nil && d.Stage == StageIngest {
			dead[d.Key] = true
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("reading back %s: %w", t.DeadLetters, err)
	}
	return queries, dead, nil
}

// writeStreamState records the topics this output directory publishes to (before the first
// publish, so that a crash right after it still finds them).
func writeStreamState(outDir string, t Topics) error {
	b, _ := json.Marshal(streamState{Queries: t.Queries, DeadLetters: t.DeadLetters})
	path := filepath.Join(outDir, StreamStateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
