// Package progress reports the progress of long jobs. On a terminal it rewrites one line with
// the count, rate and ETA, at most a few times a second; off a terminal (a file, a pipe, a
// test buffer) it stays silent until Done prints a one-line summary. A Bar is safe for
// concurrent use: workers may call Add from several goroutines.
package progress
