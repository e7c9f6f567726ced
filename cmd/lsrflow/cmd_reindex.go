package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/faissx"
)

func reindexCmd() *command {
	return &command{name: "reindex", summary: "re-embed the corpus with a new encoder and swap the dense index atomically", run: runReindex}
}

func runReindex(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "reindex", "--index DIR --embedder SPEC [--shard-size N] [--name NAME] [--index-factory F]",
		`Re-embeds every passage of an index directory's docstore with a new encoder (for example
one fine-tuned on the exported training data), shard by shard (--shard-size passages per
embedding call), into a NEW dense directory dense/<name>.<timestamp>/, fsyncs it, and then
switches the manifest's dense entry <name> to it with an atomic rename of manifest.json.
Retrievers already open keep serving from the old files, which are left in place (remove the
printed old directory once no process uses it); retrievers opened after the switch use the new
encoder. Query adapters trained for the old encoder no longer fit the new one (they record the
embedder they were trained for and are refused).`)
	index := f.String("index", "", "index directory")
	spec := f.String("embedder", "", "new embedder: glove[:VECTORS], model2vec:DIR, onnx:DIR, openai:URL[#MODEL]")
	shard := f.Int("shard-size", 1024, "passages per shard (one embedding call each)")
	name := f.String("name", "", "dense entry to replace (default: the only one, else the spec's scheme)")
	factory := f.String("index-factory", "", "FAISS index_factory (default: the replaced entry's, else Flat)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("index", "embedder"); err != nil {
		return err
	}
	if *shard <= 0 {
		return usagef("--shard-size must be > 0")
	}
	if err := mustExist("index", *index); err != nil {
		return err
	}
	res, err := reindexDense(ctx, reindexOptions{Dir: *index, Embedder: *spec, ShardSize: *shard, Name: *name, Factory: *factory, Progress: sio.err})
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "reindex %s: entry %q now %s (%s, %d dims, %d passages, %.1f s)\n", *index, res.Entry.Name, res.Entry.Path, res.Entry.Embedder, res.Entry.Dim, res.Passages, res.Seconds)
	if res.OldPath != "" {
		fmt.Fprintf(sio.out, "old files kept for open readers: %s\n", res.OldPath)
	}
	return nil
}

type reindexOptions struct {
	Dir, Embedder, Name, Factory string
	ShardSize                    int
	Progress                     io.Writer
}

type reindexResult struct {
	Entry    retrieval.DenseEntry
	OldPath  string
	Passages int
	Seconds  float64
}

// reindexDense embeds the docstore into a fresh dense directory and switches the manifest to it.
func reindexDense(ctx context.Context, o reindexOptions) (reindexResult, error) {
	start := time.Now()
	var res reindexResult
	ix, err := retrieval.OpenIndex(o.Dir)
	if err != nil {
		return res, err
	}
	defer ix.Close()
	name := o.Name
	old, hadOld := ix.Manifest.DenseByName(name)
	if name == "" {
		if hadOld {
			name = old.Name
		} else {
			name, _, _ = strings.Cut(o.Embedder, ":")
		}
	}
	if hadOld && old.Name != name {
		hadOld = false
	}
	factory, metric := o.Factory, faissx.Metric(0)
	if hadOld {
		res.OldPath = ix.Path(old.Path)
		if factory == "" && old.IndexFactory != "(imported)" {
			factory = old.IndexFactory
		}
		if old.Metric != "" && old.Metric != metric.String() {
			if m, err := faissx.ParseMetric(old.Metric); err == nil {
				metric = m
			}
		}
	}
	stamped := fmt.Sprintf("%s.%s", name, time.Now().UTC().Format("20060102T150405.000000000"))
	step, err := dense.NewStep(dense.StepOptions{Embedder: o.Embedder, Name: stamped, Factory: factory, Metric: metric,
		BatchSize: o.ShardSize, Progress: o.Progress})
	if err != nil {
		return res, usagef("--embedder: %v", err)
	}
	m := ix.Manifest
	if err := step.Finish(ctx, ix, &m); err != nil {
		os.RemoveAll(ix.Path(filepath.Join(dense.Dir, stamped)))
		return res, err
	}
	e, ok := m.DenseByName(stamped)
	if !ok {
		return res, fmt.Errorf("reindex: the build recorded no entry %s", stamped)
	}
	entry := *e
	entry.Name = name
	// drop the stamped entry, replace (or add) the named one
	kept := m.Dense[:0]
	for _, d := range m.Dense {
		if d.Name != stamped {
			kept = append(kept, d)
		}
	}
	m.Dense = kept
	m.SetDense(entry)
	if err := syncTree(ix.Path(entry.Path)); err != nil {
		return res, fmt.Errorf("reindex: sync: %w", err)
	}
	if err := retrieval.WriteManifest(o.Dir, m); err != nil { // temp file, fsync, rename
		return res, err
	}
	if d, err := os.Open(o.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	res.Entry, res.Passages, res.Seconds = entry, step.Stats.Passages, time.Since(start).Seconds()
	return res, nil
}

// syncTree fsyncs every file of dir and the directory itself (and its parent).
func syncTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		f, err := os.Open(d)
		if err != nil {
			return err
		}
		_ = f.Sync()
		f.Close()
	}
	return nil
}
