package tests

import (
	"os"
	"sync"
	"testing"
)

// built is the lsrflow binary the tests build once per run when LSRFLOW_BIN is not set.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
