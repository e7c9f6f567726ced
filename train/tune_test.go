package train_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/lsrflow/lsrflow/train"
)

func TestTune(t *testing.T) {
	spec := os.Getenv("LSRFLOW_TUNE")
	if spec == "" {
		return
	}
	var cfgs []train.Config
	if err := json.Unmarshal([]byte(spec), &cfgs); err != nil {
		t.Fatal(err)
	}
	f := loadQED(t)
	for _, c := range cfgs {
		b, a, _ := trainQED(t, f, c)
		t.Logf("before %s after %s", fmtRecall(b), fmtRecall(a))
	}
}
