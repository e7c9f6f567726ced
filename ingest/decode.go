package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/textnorm"
)

// Dead-letter reasons of the ingest beside the schemas ones.
const (
	ReasonNUL          = "nul_byte"          // the line holds a NUL byte
	ReasonTooLarge     = "message_too_large" // the line's message would exceed MaxMessageBytes
	maxErrorText       = 256                 // bytes of error detail kept in a dead letter
	deadLetterKeyBytes = 8                   // digest bytes in a dead letter's message key
)

// reqLine is one non-blank line of a request and its outcome.
type reqLine struct {
	num    int
	key    lineKey
	dead   bool   // goes to the dead-letter topic
	reason string // dead-letter reason
	msg    streams.Message
	same   int // index of an earlier line of the request with the same key, or -1
	status lineStatus
}

// foundStatus is the outcome of a line found already published.
func (l *reqLine) foundStatus() lineStatus {
	if l.dead {
		return statusDeadLettered
	}
	return statusDuplicate
}

// decodeLine turns a line into the message to publish: a query, or a dead letter.
func (h *Handler) decodeLine(l rawLine, now time.Time) reqLine {
	lim := h.o.Limits
	if l.tooLong {
		return h.deadLetter(l, l.sum, schemas.ReasonTooLong,
			fmt.Sprintf("line of %d bytes exceeds the limit of %d", l.size, lim.MaxLineBytes), now)
	}
	sum := sha256.Sum256(l.data)
	if bytes.IndexByte(l.data, 0) >= 0 {
		return h.deadLetter(l, sum, ReasonNUL, "the line holds a NUL byte", now)
	}
	q, err := decodeQueryLine(l.data)
	if err != nil {
		return h.deadLetter(l, sum, streams.ReasonOf(err), err.Error(), now)
	}
	if q.Source == "" || q.Source == "log" {
		q.Source = h.o.Source
	}
	if q.Time.IsZero() {
		q.Time = now.UTC()
	}
	value, err := encodeJSON(q)
	if err != nil {
		return h.deadLetter(l, sum, schemas.ReasonInvalid, err.Error(), now)
	}
	if len(value)+len(q.ID) > lim.MaxMessageBytes {
		return h.deadLetter(l, sum, ReasonTooLarge,
			fmt.Sprintf("the query's message would take %d bytes; the limit is %d", len(value)+len(q.ID), lim.MaxMessageBytes), now)
	}
	return reqLine{num: l.num, key: queryKey(q), msg: streams.Message{Key: []byte(q.ID), Value: value}}
}

// decodeQueryLine is schemas.DecodeLogLine, except that a line holding a bare JSON value
// (a number, string, true/false/null) is refused: it is a broken record, not a question.
func decodeQueryLine(b []byte) (schemas.Query, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] != '{' && t[0] != '[' && json.Valid(t) {
		return schemas.Query{}, schemas.Errorf(schemas.ReasonNotObject, "a bare JSON value, not an object; send {\"question\": ...}")
	}
	return schemas.DecodeLogLine(b)
}

// deadLetter builds the bounded dead letter of line l (sum: SHA-256 of the whole line). Lines
// longer than DeadLetterPayload keep their first bytes with the whole line's length and
// digest. Its key is derived from the content, so a retried bad line is dead-lettered once.
func (h *Handler) deadLetter(l rawLine, sum [32]byte, reason, detail string, now time.Time) reqLine {
	payload := l.data
	if len(payload) > h.o.Limits.DeadLetterPayload {
		payload = payload[:h.o.Limits.DeadLetterPayload]
	}
	if len(detail) > maxErrorText {
		detail = strings.ToValidUTF8(detail[:maxErrorText], "")
	}
	d := schemas.DeadLetter{
		SchemaVersion: schemas.DeadLetterVersion, Stage: StageName, Reason: reason, Error: detail,
		Topic: "http", Offset: int64(l.num), Key: "http:" + hex.EncodeToString(sum[:deadLetterKeyBytes]),
		Payload: payload, Time: now.UTC(),
	}
	if int64(len(payload)) < l.size {
		d.PayloadSize, d.PayloadSHA256 = l.size, hex.EncodeToString(sum[:])
	}
	value, err := encodeJSON(d)
	if err != nil { // a DeadLetter of bytes and strings always encodes
		panic(fmt.Sprintf("ingest: encoding a dead letter: %v", err))
	}
	kh := sha256.New()
	writeField(kh, "dead-letter")
	writeField(kh, reason)
	kh.Write(sum[:])
	return reqLine{num: l.num, key: sumKey(kh), dead: true, reason: reason,
		msg: streams.Message{Key: []byte(d.Key), Value: value}}
}

// encodeJSON marshals v without HTML escaping: '<', '>' and '&' stay one byte each instead of
// six (\u003c), so a line's message is at most a little larger than the line.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// queryKey identifies a query for de-duplication: the id the client sent (none when the id
// was derived from the text), the normalized question, the golden answers and gold document
// ids as sent. Two lines merge only when all of them agree.
func queryKey(q schemas.Query) lineKey {
	h := sha256.New()
	writeField(h, "query")
	id := q.ID
	if id == schemas.QueryIDFor(q.Question) {
		id = ""
	}
	writeField(h, id)
	writeField(h, NormalizeQuestion(q.Question))
	writeList(h, q.GoldenAnswers)
	writeList(h, q.GoldDocIDs)
	return sumKey(h)
}

// NormalizeQuestion is the text two questions must share to be duplicates: Unicode NFC,
// lower case (Python's str.lower, as textnorm), runs of white space as one space, and the
// trailing question marks dropped. Every other character stays: "C++" and "C#", "2+2" and
// "2-2", "3<5" and "3>5", "1/2" and "12", ".NET" and "NET" are different questions. (FlashRAG's
// answer normalization, which drops punctuation and articles, would merge them.)
func NormalizeQuestion(s string) string {
	s = textnorm.Lower(norm.NFC.String(s))
	s = strings.Join(textnorm.Fields(s), " ")
	return strings.TrimRight(s, "? ")
}

// writeField writes a length-prefixed string, so that field boundaries cannot shift.
func writeField(h hash.Hash, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}

func writeList(h hash.Hash, l []string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(l)))])
	for _, s := range l {
		writeField(h, s)
	}
}

func sumKey(h hash.Hash) lineKey {
	var k lineKey
	copy(k[:], h.Sum(nil))
	return k
}
