#!/bin/sh
# One-shot initialisation of the compose stack (service "init"): provision the topology's
# topics on Kafka and build the retrieval index once, before the stage replicas start (several
# retrieve replicas must not race to build the same index directory).
set -eu
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
