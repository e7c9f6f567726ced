#!/bin/sh
# lsrflow container entrypoint: renders the topology file from the environment (envsubst over
# /etc/lsrflow/lsrflow.yaml.tmpl, or $LSRFLOW_CONFIG_TEMPLATE) into $LSRFLOW_CONFIG, then runs
# lsrflow with the given arguments. Arguments may refer to the rendered file as $LSRFLOW_CONFIG.
set -eu
: "${LSRFLOW_CONFIG:=/tmp/lsrflow.yaml}"
: "${LSRFLOW_CONFIG_TEMPLATE:=/etc/lsrflow/lsrflow.yaml.tmpl}"
export LSRFLOW_CONFIG
if [ -f "$LSRFLOW_CONFIG_TEMPLATE" ]; then
  envsubst <"$LSRFLOW_CONFIG_TEMPLATE" >"$LSRFLOW_CONFIG"
fi
case "${1:-}" in
  sh|/bin/sh|bash) exec "$@" ;;
esac
exec lsrflow "$@"
