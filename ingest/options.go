package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lsrflow/lsrflow/streams"
)

// Options configures a Handler. Publisher, QueriesTopic and DeadLettersTopic are required.
type Options struct {
	Publisher        streams.Publisher
	QueriesTopic     string
	DeadLettersTopic string

	// Token, when set, is the bearer token every POST must carry (Authorization: Bearer T).
	Token string
	// Limits bound what one request may cost; zero fields take DefaultLimits' values.
	Limits Limits
	// Ready is the readiness probe of /readyz (nil: always ready). Its error is logged, never
	// shown to clients. Results are reused for a second, so /readyz traffic cannot flood it.
	Ready func(ctx context.Context) error
	// Source is set on queries that carry none (default "http").
	Source string
	// Registerer receives the ingest metrics (nil: not registered).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Limits bound the memory and time one request may take. Every field has a default (see
// DefaultLimits); Memory says what they imply.
type Limits struct {
	// MaxBody bounds the body in bytes, after gzip decoding (default 1 MiB): 413 beyond it.
	MaxBody int64
	// MaxLines bounds the non-blank lines of one request (default 10,000): 413 beyond it.
	MaxLines int
	// MaxLineBytes bounds one line (default 1 MiB); a longer line is dead-lettered
	// (line_too_long) in bounded form without being held whole.
	MaxLineBytes int
	// MaxMessageBytes bounds one published message, key plus value (default 960 KiB, below
	// Kafka's default message.max.bytes of 1,048,588 and franz-go's default batch limit of
	// 1,000,012 bytes). A line whose message would be larger is dead-lettered
	// (message_too_large) in bounded form.
	MaxMessageBytes int
	// DeadLetterPayload is how many bytes of a line a bounded dead letter keeps, beside the
	// line's length and SHA-256 (default 4 KiB). Shorter bad lines are kept whole.
	DeadLetterPayload int
	// RequestBudget bounds the bytes one request publishes, dead letters included (default
	// 4 MiB): 413 beyond it, before anything is published.
	RequestBudget int64
	// InflightMemory bounds the memory of all requests together (default 64 MiB): each charges
	// its buffers, lines and messages as it reads them and keeps them charged until its
	// publish ends (a publish that outlives its request included). A request that finds no
	// room gets 429 before anything is published. A slow client holds only what it has sent.
	InflightMemory int64
	// DedupWindow is how long a published line is remembered (default 10m; negative: not at
	// all, so retries may publish a line twice). DedupMemory bounds what the remembered lines
	// take (default 16 MiB, about 150,000 lines); beyond it the oldest are forgotten.
	DedupWindow time.Duration
	DedupMemory int64
	// RequestTimeout is how long a request waits for its publishes (default 20s) before it is
	// answered 503; the publishes go on.
	RequestTimeout time.Duration
	// PublishTimeout bounds one publish, detached from any request (default 5m). A publish
	// that fails or times out frees its lines for a retry.
	PublishTimeout time.Duration
	// RetryAfter is the Retry-After of 429 and 503 answers (default 1s, whole seconds).
	RetryAfter time.Duration
}

// DefaultLimits returns the defaults of every limit.
func DefaultLimits() Limits {
	return Limits{
		MaxBody:           1 << 20,
		MaxLines:          10_000,
		MaxLineBytes:      1 << 20,
		MaxMessageBytes:   960 << 10,
		DeadLetterPayload: 4 << 10,
		RequestBudget:     4 << 20,
		InflightMemory:    64 << 20,
		DedupWindow:       10 * time.Minute,
		DedupMemory:       16 << 20,
		RequestTimeout:    20 * time.Second,
		PublishTimeout:    5 * time.Minute,
		RetryAfter:        time.Second,
	}
}

// What a request charges to InflightMemory besides its messages: the line splitter's buffer and
// body reader (requestFixedBytes), a gzip decoder (gzipBytes), and per line its bookkeeping
// (a reqLine with the slice's doubling, its entries in the request's and the ledger's maps).
// Messages are charged twice: ours, and the transport's copy while it sends them. Line buffers
// are charged twice too: the buffer and the line handed to the decoder.
// TestChargedMemoryCoversHeap checks these against the heap.
const (
	requestFixedBytes = 40 << 10
	gzipBytes         = 48 << 10
	perLineBytes      = 384
)

// Memory returns the most memory requests and the de-duplication ledger take together:
// InflightMemory plus DedupMemory (when de-duplication is on).
func (l Limits) Memory() int64 {
	if l.DedupWindow > 0 {
		return l.InflightMemory + l.DedupMemory
	}
	return l.InflightMemory
}

// largestRequest is what the biggest single line costs a request: InflightMemory must hold it,
// or such a request could never be served.
func (l Limits) largestRequest() int64 {
	return requestFixedBytes + gzipBytes + 2*int64(l.MaxLineBytes) + 2*int64(l.MaxMessageBytes) + perLineBytes
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	orDefault(&l.MaxBody, d.MaxBody)
	orDefault(&l.MaxLines, d.MaxLines)
	orDefault(&l.MaxLineBytes, d.MaxLineBytes)
	orDefault(&l.MaxMessageBytes, d.MaxMessageBytes)
	orDefault(&l.DeadLetterPayload, d.DeadLetterPayload)
	orDefault(&l.RequestBudget, d.RequestBudget)
	orDefault(&l.InflightMemory, d.InflightMemory)
	orDefault(&l.DedupWindow, d.DedupWindow)
	orDefault(&l.DedupMemory, d.DedupMemory)
	orDefault(&l.RequestTimeout, d.RequestTimeout)
	orDefault(&l.PublishTimeout, d.PublishTimeout)
	orDefault(&l.RetryAfter, d.RetryAfter)
	return l
}

// orDefault sets *v to def when it is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate reports the first limit that cannot work (after defaults).
func (l Limits) Validate() error {
	l = l.withDefaults()
	for _, v := range []struct {
		name string
		n    int64
	}{
		{"max body", l.MaxBody}, {"max lines", int64(l.MaxLines)}, {"max line bytes", int64(l.MaxLineBytes)},
		{"max message bytes", int64(l.MaxMessageBytes)}, {"dead-letter payload", int64(l.DeadLetterPayload)},
		{"request budget", l.RequestBudget}, {"in-flight memory", l.InflightMemory}, {"dedup memory", l.DedupMemory},
		{"request timeout", int64(l.RequestTimeout)}, {"publish timeout", int64(l.PublishTimeout)}, {"retry after", int64(l.RetryAfter)},
	} {
		if v.n < 0 {
			return fmt.Errorf("ingest: %s must not be negative", v.name)
		}
	}
	// A bounded dead letter (payload, digest, length, reason) must fit in a message.
	if need := deadLetterBytes(l.DeadLetterPayload); need > l.MaxMessageBytes {
		return fmt.Errorf("ingest: a dead letter keeping %d payload bytes needs %d bytes per message; max message bytes is %d", l.DeadLetterPayload, need, l.MaxMessageBytes)
	}
	if int64(deadLetterBytes(l.DeadLetterPayload)) > l.RequestBudget {
		return errors.New("ingest: the request budget cannot hold one dead letter")
	}
	if need := l.largestRequest(); l.InflightMemory < need {
		return fmt.Errorf("ingest: in-flight memory %d cannot hold one request with a line of max line bytes (%d needed)", l.InflightMemory, need)
	}
	return nil
}

// deadLetterBytes bounds the encoded size of a dead letter keeping payload bytes: base64 of the
// payload plus the fixed fields (error text capped at maxErrorText, up to six bytes each when
// JSON-escaped).
func deadLetterBytes(payload int) int {
	return (payload+2)/3*4 + 6*maxErrorText + 512
}
