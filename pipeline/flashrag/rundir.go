package flashrag

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// StateFile in a run directory records whether lsrflow finished the run.
const StateFile = "lsrflow-run.json"

// RunState is the content of StateFile.
type RunState struct {
	Status      string      `json:"status"` // running | complete
	Fingerprint string      `json:"fingerprint"`
	Config      string      `json:"config"`
	Splits      []SplitFile `json:"splits,omitempty"`
	Updated     time.Time   `json:"updated"`
}

// Fingerprint identifies a run's inputs: the config file's bytes and the size and
// modification time of each dataset file. A run directory is resumed only by the same
// fingerprint.
func (s *Settings) Fingerprint(splits []SplitFile) string {
	h := sha256.New()
	h.Write(s.ConfigBytes)
	for _, sf := range splits {
		fi, err := os.Stat(sf.Path)
		if err == nil {
			fmt.Fprintf(h, "\x00%s\x00%d\x00%d", sf.Path, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// RunDirName is FlashRAG's run directory name (flashrag/config/config.py, _prepare_dir):
// {dataset_name}_{%Y_%m_%d_%H_%M}_{save_note}, local time.
func (s *Settings) RunDirName(now time.Time) string {
	return fmt.Sprintf("%s_%s_%s", s.DatasetName, now.Format("2006_01_02_15_04"), s.SaveNote)
}

// RunDir picks the run directory under save_dir: the newest unfinished run of the same
// fingerprint (so that re-running after a crash resumes it, as lsrflow's runs do), else a new
// FlashRAG-named directory for now. When that name is taken (a finished run in the same
// minute), "_2", "_3", ... is appended rather than mixing two runs.
func (s *Settings) RunDir(now time.Time, fingerprint string) (dir string, resumed bool, err error) {
	prefix, suffix := s.DatasetName+"_", "_"+s.SaveNote
	entries, err := os.ReadDir(s.SaveDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	var candidates []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, prefix) || !strings.Contains(n, suffix) {
			continue
		}
		st, err := ReadState(filepath.Join(s.SaveDir, n))
		if err == nil && st.Status == "running" && st.Fingerprint == fingerprint {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) > 0 {
		sort.Strings(candidates) // the timestamp sorts as text
		return filepath.Join(s.SaveDir, candidates[len(candidates)-1]), true, nil
	}
	base := filepath.Join(s.SaveDir, s.RunDirName(now))
	dir = base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return dir, false, nil
		}
		dir = fmt.Sprintf("%s_%d", base, i)
	}
}

// ReadState reads dir's StateFile.
func ReadState(dir string) (RunState, error) {
	var st RunState
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// WriteState writes dir's StateFile atomically.
func WriteState(dir string, st RunState) error {
	st.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}
