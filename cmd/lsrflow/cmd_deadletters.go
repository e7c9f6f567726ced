package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

func deadlettersCmd() *command {
	return &command{name: "deadletters", summary: "inspect and replay dead letters (stats, replay)", run: runDeadletters}
}

func runDeadletters(ctx context.Context, sio stdio, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(sio.out, "Usage: lsrflow deadletters stats|replay [flags]\n\n"+
			"  stats   count dead letters by stage and reason\n"+
			"  replay  write the original payloads back out as input lines (or Kafka messages)\n\n"+
			"Run 'lsrflow deadletters SUBCOMMAND --help' for its flags.")
		if len(args) == 0 {
			return usagef("a subcommand is required: stats or replay")
		}
		return nil
	}
	switch args[0] {
	case "stats":
		return deadletterStats(ctx, sio, args[1:])
	case "replay":
		return deadletterReplay(ctx, sio, args[1:])
	}
	return usagef("unknown subcommand %q: want stats or replay", args[0])
}

// readDeadLetters streams the dead letters of a JSON-lines file; lines that are not dead
// letters are counted, not fatal.
func readDeadLetters(ctx context.Context, path string, fn func(schemas.DeadLetter)) (bad int, err error) {
	return schemas.DecodeFile(ctx, path, 64<<20, schemas.DecodeDeadLetter, func(d schemas.DeadLetter) error {
		fn(d)
		return nil
	})
}

func deadletterStats(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "deadletters stats", "--in dead-letters.jsonl",
		"Counts the dead letters of a file by stage and reason.")
	in := f.String("in", "", "dead-letter file (JSON lines, as lsrflow writes them)")
	asJSON := f.Bool("json", false, "print the counts as one JSON object")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("in"); err != nil {
		return err
	}
	if err := mustExist("in", *in); err != nil {
		return err
	}
	type key struct{ stage, reason string }
	counts := map[key]int{}
	total := 0
	bad, err := readDeadLetters(ctx, *in, func(d schemas.DeadLetter) {
		counts[key{d.Stage, d.Reason}]++
		total++
	})
	if err != nil {
		return err
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].stage != keys[j].stage {
			return keys[i].stage < keys[j].stage
		}
		return keys[i].reason < keys[j].reason
	})
	if *asJSON {
		type row struct {
			Stage  string `json:"stage"`
			Reason string `json:"reason"`
			Count  int    `json:"count"`
		}
		out := struct {
			Total      int   `json:"total"`
			Unreadable int   `json:"unreadable_lines"`
			Counts     []row `json:"counts"`
		}{Total: total, Unreadable: bad, Counts: []row{}}
		for _, k := range keys {
			out.Counts = append(out.Counts, row{k.stage, k.reason, counts[k]})
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(sio.out, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(sio.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tREASON\tCOUNT")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", k.stage, k.reason, counts[k])
	}
	fmt.Fprintf(tw, "total\t\t%d\n", total)
	if bad > 0 {
		fmt.Fprintf(tw, "unreadable lines\t\t%d\n", bad)
	}
	return tw.Flush()
}

// replayLine turns a dead letter's payload into one input line. With asQuery, a payload that
// is a candidate set (a dead letter of the teach stage) becomes its query record again, so that
// a query reader re-runs retrieval and teaching for it. JSON payloads are compacted (so a
// pretty-printed payload still fits on one line); other payloads are kept as they are unless
// they span lines, which a line reader could not read back as one record.
func replayLine(payload []byte, asQuery bool) ([]byte, bool) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 {
		return nil, false
	}
	if asQuery {
		if c, err := schemas.DecodeCandidates(p); err == nil {
			if b, err := schemas.Encode(c.Query); err == nil {
				return b, true
			}
		}
	}
	if json.Valid(p) {
		var buf bytes.Buffer
		if json.Compact(&buf, p) == nil {
			return buf.Bytes(), true
		}
	}
	if bytes.ContainsAny(p, "\r\n") {
		return nil, false
	}
	return p, true
}

func deadletterReplay(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "deadletters replay", "--in dead-letters.jsonl (--out FILE | --brokers HOST:PORT --topic T) [--stage S] [--reason R]",
		"Re-injects the original payloads of dead letters (after the cause was fixed): as lines\n"+
			"that 'lsrflow synth --queries' and the other line readers read, or as messages on a Kafka\n"+
			"topic keyed as they were. Identical payloads of one stage are replayed once. Payloads\n"+
			"that cannot form one line (empty, or multi-line non-JSON) and truncated payloads\n"+
			"(bounded dead letters of over-long inputs) are skipped and counted.")
	in := f.String("in", "", "dead-letter file (JSON lines)")
	out := f.String("out", "", "output file of payload lines ('-': stdout); written atomically")
	stage := f.String("stage", "", "replay only dead letters of this stage")
	reason := f.String("reason", "", "replay only dead letters with this reason")
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,host:port]: publish instead of writing a file")
	topic := f.String("topic", "", "Kafka topic to publish to (with --brokers)")
	as := f.String("as", "auto", "query: turn candidate-set payloads (teach stage) back into query lines; raw: payloads as they are; auto: query for --out, raw for --brokers")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := f.require("in"); err != nil {
		return err
	}
	if err := mustExist("in", *in); err != nil {
		return err
	}
	if (*brokers == "") == (*out == "") {
		return usagef("give exactly one of --out or --brokers")
	}
	if *brokers != "" && *topic == "" {
		return usagef("--topic is required with --brokers")
	}
	asQuery := *out != ""
	switch *as {
	case "auto":
	case "query":
		asQuery = true
	case "raw":
		asQuery = false
	default:
		return usagef("--as %q: want auto, query or raw", *as)
	}

	type payload struct {
		key  []byte
		line []byte
	}
	var picked []payload
	seen := map[string]struct{}{}
	matched, skipped, dups := 0, 0, 0
	bad, err := readDeadLetters(ctx, *in, func(d schemas.DeadLetter) {
		if (*stage != "" && d.Stage != *stage) || (*reason != "" && d.Reason != *reason) {
			return
		}
		matched++
		line, ok := replayLine(d.Payload, asQuery)
		if !ok || d.Truncated() { // a bounded dead letter kept only the input's first bytes
			skipped++
			return
		}
		k := d.DedupKey()
		if _, dup := seen[k]; dup {
			dups++
			return
		}
		seen[k] = struct{}{}
		picked = append(picked, payload{key: []byte(d.Key), line: line})
	})
	if err != nil {
		return err
	}
	if *brokers != "" {
		msgs := make([]replayMessage, len(picked))
		for i, p := range picked {
			msgs[i] = replayMessage{Key: p.key, Value: p.line}
		}
		if err := publishReplay(ctx, *brokers, *topic, msgs); err != nil {
			return err
		}
	} else {
		var buf bytes.Buffer
		for _, p := range picked {
			buf.Write(p.line)
			buf.WriteByte('\n')
		}
		if err := writeFileAtomic(*out, buf.Bytes(), sio.out); err != nil {
			return err
		}
	}
	fmt.Fprintf(sio.err, "replayed %d of %d matching dead letters (%d duplicate payloads, %d not replayable, %d unreadable lines)\n",
		len(picked), matched, dups, skipped, bad)
	return nil
}

// replayMessage is one payload to publish.
type replayMessage struct{ Key, Value []byte }

// writeFileAtomic writes data to path via a temp file and rename ("-": to stdout).
func writeFileAtomic(path string, data []byte, stdout io.Writer) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// publishReplay publishes msgs to topic through the Kafka transport (each to the partition
// streams.PartitionFor gives its key) and waits for all acknowledgements.
func publishReplay(ctx context.Context, brokers, topic string, msgs []replayMessage) error {
	cfg := kafka.Config{Brokers: kafka.ParseBrokers(brokers)}
	if err := cfg.Validate(); err != nil {
		return usagef("--brokers %q: %v", brokers, err)
	}
	if len(msgs) == 0 {
		return nil
	}
	tr, err := kafka.New(cfg)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", brokers, err)
	}
	defer tr.Close()
	sm := make([]streams.Message, len(msgs))
	for i, m := range msgs {
		sm[i] = streams.Message{Key: m.Key, Value: m.Value, Headers: map[string]string{"replayed": "dead-letter"}}
	}
	if err := tr.Publish(ctx, topic, sm...); err != nil {
		return fmt.Errorf("publish %d payloads to %s at %s: %w", len(msgs), topic, brokers, err)
	}
	return nil
}
