// Package tests holds cross-package tests: files written by the sinks read back by readers
// nobody here wrote (hyparquet and Arrow for JavaScript, run with node from the npm-test cache
// that `scripts/setup.sh npmtest` fills), and the crash test of the synth pipeline (SIGKILL
// at random points, restart, compare with an uninterrupted run).
package tests
