//go:build !unix

package ingest

// openFileLimit returns 0: the limit is unknown on this platform.
func openFileLimit() int { return 0 }
