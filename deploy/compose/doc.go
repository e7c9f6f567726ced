// Package compose holds the assets of the docker-compose deployment (docker-compose.yml at the
// repository root, the lsrflow image's entrypoint and init scripts, the topology template and
// its environment, Prometheus and Grafana settings for the stack) and the test that validates
// them with Debian's docker-compose (v1) and lsrflow's own config loader. No Go code ships here.
package compose
