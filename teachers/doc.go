// Package teachers defines the Teacher contract: a teacher turns a candidate set (a query and
// its top-k passages) into a scored training record, a distribution over the k passages.
//
// Implementations live below: teachers/answermatch (distant supervision: a passage is relevant
// when it contains a normalized gold answer) and the LM teachers (REPLUG LSR, UPR,
// generate-then-score). Shared helpers here build the record (Build) and the temperature
// softmax (Softmax), computed in float64 with the max subtracted.
package teachers
