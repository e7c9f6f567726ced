// Package tests holds cross-package tests: files written by the sinks read back by readers
// nobody here wrote (hyparquet and Arrow for JavaScript, run with node from the npm-test cache
// that `scripts/setup.sh npmtest` fills), the crash test of the synth pipeline (SIGKILL at
// random points, restart, compare with an uninterrupted run), and the crash storm on Kafka
// (issue 17: many kills over start-up, rebalance and steady state; the final run must finish
// in time and the topics must not multiply the work).
package tests
