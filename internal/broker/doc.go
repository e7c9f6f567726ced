// Package broker starts an in-process Kafka-protocol cluster (franz-go's kfake) for development
// and tests, so lsrflow's Kafka transport and outside clients such as kcat can run without a
// Kafka installation or Docker.
//
// Start blocks only until the listeners are bound; the cluster then serves on background
// goroutines until Close. It listens on 127.0.0.1 only. Data lives in memory and is lost on
// Close. A Broker is safe for concurrent use; Close is idempotent.
//
// The broker removes a classic consumer-group member that has been silent past its session
// timeout, as Apache Kafka does; kfake alone keeps a member whose process died during its join
// for good (sessions.go).
package broker
