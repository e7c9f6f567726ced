#!/bin/sh
# One-shot initialisation of the compose stack (service "init"): provision the topology's
# topics on Kafka and build the retrieval index once, before the stage replicas start (several
# retrieve replicas must not race to build the same index directory).
set -eu
# serve's bearer token: $LSRFLOW_INGEST_TOKEN when set, else a random token made once. Kept
# in a file (owner-only) so that it never appears on a command line.
token_file=/data/ingest-token
if [ -n "${LSRFLOW_INGEST_TOKEN:-}" ]; then
  (umask 077 && printf '%s\n' "$LSRFLOW_INGEST_TOKEN" >"$token_file.tmp" && mv "$token_file.tmp" "$token_file")
elif [ ! -s "$token_file" ]; then
  (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file.tmp" && echo >>"$token_file.tmp" && mv "$token_file.tmp" "$token_file")
  echo "generated serve's bearer token in $token_file"
fi
lsrflow topics ensure --config "$LSRFLOW_CONFIG" --brokers "$KAFKA_BOOTSTRAP" \
  --partitions "$LSRFLOW_PARTITIONS" --replication "$KAFKA_REPLICATION"
if [ -f "$LSRFLOW_INDEX_DIR/manifest.json" ]; then
  echo "index $LSRFLOW_INDEX_DIR exists"
  exit 0
fi
if [ -n "${LSRFLOW_INDEX_EMBEDDER:-}" ]; then
  exec lsrflow index --corpus "$LSRFLOW_CORPUS" --out "$LSRFLOW_INDEX_DIR" \
    --embedder "$LSRFLOW_INDEX_EMBEDDER" --index-factory "${LSRFLOW_INDEX_FACTORY:-Flat}"
fi
exec lsrflow index --corpus "$LSRFLOW_CORPUS" --out "$LSRFLOW_INDEX_DIR"
