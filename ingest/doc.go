// Package ingest is lsrflow's HTTP ingest of live query logs: a handler that accepts POSTed
// query-log lines and publishes them onto the queries topic of a running topology, and a
// server around it that stays bounded under abusive clients. docs/ingest.md is the user's
// description; this is the contract.
//
// POST /v1/queries takes newline-separated lines (LF, CRLF or a lone CR; gzip with
// Content-Encoding: gzip). Each non-blank line is a JSON object (FlashRAG dataset shape, or
// "query"/"text" for the question) or the plain text of a question (schemas.DecodeLogLine).
// Its outcome is one of:
//   - accepted: published to the queries topic, keyed by query id, and acknowledged;
//   - duplicate: an equal line was published and acknowledged earlier (by this request or an
//     earlier one) within the de-duplication window. Equal means the same id as sent by the
//     client (none for derived ids), the same question after NormalizeQuestion (which keeps
//     operators and symbols), and the same golden answers and gold doc ids;
//   - dead_lettered: a dead letter of the line (stage "ingest", reason, the original bytes, at
//     most Limits.DeadLetterPayload of them with the whole line's length and SHA-256) is on
//     the dead-letter topic. A bad line is never a reason to fail the request: over-long
//     lines, lines whose message would exceed the broker's limit, NUL bytes, invalid UTF-8,
//     bare JSON values and broken JSON are all dead-lettered. Dead letters are de-duplicated
//     like queries (by reason and the line's digest), so a retried bad line is dead-lettered
//     once.
//
// Answers:
//   - 200: every line has its outcome, and everything it needed is acknowledged by the
//     transport. The body (Result) counts the outcomes and lists the line numbers of
//     duplicates and dead letters.
//   - 503 (with Retry-After): not every line is confirmed yet. Publishes run on the handler's
//     own context, detached from the request, for up to Limits.PublishTimeout: some lines may
//     be published already, some may still be publishing. Retrying the same body is safe:
//     published lines come back as duplicates, lines still being published are waited for
//     (not published again), and lines whose publish failed are published again.
//   - 413 (body, line count or request budget over the limits), 415 (an unsupported
//     Content-Encoding, or a gzip body without it), 400 (a body that cannot be read), 401
//     (no or wrong bearer token), 405, 429 with Retry-After (the in-flight memory is taken
//     by other requests and running publishes): nothing of the request was published.
//
// Exactly once across retries holds as long as the retry comes within the de-duplication
// window, to the same process (the ledger is in memory), the ledger has not dropped the
// lines for lack of memory (lsrflow_ingest_dedup_evicted_total), and the transport does not
// duplicate messages on its own retries. A publish is recorded in the ledger only after it is
// acknowledged, and a line whose publish fails is freed for the next claimant, so concurrent
// requests for the same line never lose it: a request that finds a line being published by
// another waits for that publish and publishes the line itself if it fails.
//
// Memory is bounded by bytes: requests charge their buffers, lines and messages to
// Limits.InflightMemory as they read them (a body is read in a 32 KiB window, a line is held
// up to MaxLineBytes, a request publishes at most RequestBudget), and a publish that outlives
// its request keeps its charge until it ends; the ledger holds DedupMemory bytes; MaxConns
// connections hold at most MaxHeaderBytes of headers each (Limits.Memory,
// ServerOptions.Memory). A slow or idle client holds only what it has sent.
//
// GET /healthz answers 200 while the process serves; GET /readyz answers 200 when the Ready
// probe answers and the server is not shutting down, else 503 (causes are logged, never
// answered).
package ingest
