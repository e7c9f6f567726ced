// Package report renders one self-contained HTML page about a run: inline SVG plots, no
// external resources, no network. `lsrflow report --run DIR --out report.html` calls it.
//
// Files read from the run directory DIR (each optional; a missing or unreadable file turns its
// section into a note saying so, never an error):
//
//   - eval-*.json: evaluation aggregates, one JSON object per file as `lsrflow eval` prints it
//     (when the file has several lines, the last JSON object line is used). The "label" field
//     names the run ("before", "after"); without it the label is the file name between "eval-"
//     and ".json". Keys "recall@K" (and "gold_recall@K") are plotted against K, one series per
//     label; every numeric key is listed in a table. Labels "before" and "after" sort first.
//   - scored.jsonl: schemas.Scored records. For each record with at least two passages the
//     teacher distribution "scores" gives a normalized entropy H/log(k) and a maximum
//     probability, both in [0, 1], shown as histograms.
//   - metrics.jsonl: stage counters over time, one object per line:
//     {"time": RFC 3339 timestamp, "stage": name, "in": records consumed so far,
//     "out": records published so far, "dead_letters": inputs dead-lettered so far}.
//     Counters are cumulative since the process started (like Prometheus counters); the
//     throughput plot shows, per stage, the rate of "out" between consecutive samples. A
//     counter that goes down (a restart) starts a new segment.
//   - dead-letters.jsonl: schemas.DeadLetter records, counted by stage and reason.
//   - rounds.jsonl, else checkpoints/rounds.jsonl: a train stage's rounds (one
//     processors/train.Round per line). The untrained version 0 and every published version
//     give the gold recall of the version in use from its publication on, as served (dense
//     or hybrid) and as the adapted dense retriever alone, plotted as step lines over time;
//     every round is listed with its held-out check.
//
// Bad lines in any file are counted and shown, not fatal.
package report
