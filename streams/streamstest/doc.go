// Package streamstest holds the contract suite every streams.Transport passes (Run), and a
// small in-memory harness for testing your own Processors (Harness).
//
// Run creates a fresh transport per subtest through the caller's constructor and closes it at
// the end; subtests use their own topic and group names, so a constructor may also hand out
// one shared cluster. Each subtest bounds every wait with a deadline: a transport that loses or
// stalls a message fails instead of hanging. Subtests of the optional interfaces (batched
// fetch, asynchronous publish, ownership, group offsets, read-back) check them where a
// transport implements them and log that it does not otherwise; the last subtest runs the real
// stage runner on the transport (per-key order, final commit).
package streamstest
