// Package ingest is lsrflow's HTTP ingest of live query logs: a handler that accepts POSTed
// query-log lines and publishes them onto the queries topic of a running topology.
//
// Contract of POST /v1/queries:
//   - The body is newline-separated lines, each a JSON object (FlashRAG dataset shape, or with
//     "query"/"text" for the question) or the plain text of a question; each line is decoded
//     with schemas.DecodeLogLine.
//   - A valid line is published to the queries topic keyed by the query id. A bad line is
//     published to the dead-letter topic as a schemas.DeadLetter (stage "ingest", a reason, the
//     original bytes). A line whose normalized question text was already accepted within the
//     de-duplication window is counted as a duplicate and not published again.
//   - The answer is 200 with {"accepted":N,"duplicates":D,"dead_lettered":B} once every publish
//     is acknowledged by the transport; the whole request is published or answered with an
//     error (5xx: nothing of it counts as seen, so the client may retry the request).
//   - 413 when the body exceeds the size limit (nothing published), 401 without the configured
//     bearer token, 405 for other methods, 429 with Retry-After when MaxInflight requests are
//     already publishing (backpressure: the client should retry later).
//
// GET /healthz answers 200 while the process serves; GET /readyz answers 200 when the
// Ready probe (the transport) answers and the server is not shutting down, else 503.
//
// The de-duplication set is bounded: entries expire after the window and the oldest are
// evicted beyond a capacity, so memory stays bounded whatever the traffic.
package ingest
