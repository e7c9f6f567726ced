// Package testenv holds small helpers for tests: the repository root (the directory holding
// go.mod), the setup cache ($LSRFLOW_CACHE or <root>/.cache) and the read-only shared data
// directory ($LSRFLOW_SHARED or <root>/../shared).
//
// Tests install nothing: when something setup should have provided is missing, the helpers
// fail the test with a message naming the scripts/setup.sh step to run. They never skip.
package testenv
