package pyrandom

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"
)

const python = "/usr/bin/python3"

// pythonDraws runs CPython's own random module: for each case it seeds, then draws what the
// case names, and returns the results as JSON.
func pythonDraws(t *testing.T, cases any) [][]uint64 {
	t.Helper()
	in, _ := json.Marshal(cases)
	cmd := exec.CommandContext(t.Context(), python, "-c", `
import json, random, sys
out = []
for c in json.loads(sys.argv[1]):
    random.seed(c["seed"])
    got = []
    for op in c["ops"]:
        if op[0] == "bits":
            got.append(random.getrandbits(op[1]))
        elif op[0] == "choice":
            got.append(random.choice(range(op[1])))
        elif op[0] == "sample":
            got.extend(random.sample(list(range(op[1])), op[2]))
    out.append(got)
print(json.dumps(out))
`, string(in))
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v (Debian's python3 is installed by scripts/setup.sh apt)", python, err)
	}
	var out [][]uint64
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type op []any

type tcase struct {
	Seed int64 `json:"seed"`
	Ops  []op  `json:"ops"`
}

func (c tcase) draw(t *testing.T) []uint64 {
	r := New(c.Seed)
	var got []uint64
	for _, o := range c.Ops {
		switch o[0] {
		case "bits":
			got = append(got, r.GetRandBits(o[1].(int)))
		case "choice":
			i, err := r.Choice(o[1].(int))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, uint64(i))
		case "sample":
			s, err := r.Sample(o[1].(int), o[2].(int))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range s {
				got = append(got, uint64(x))
			}
		}
	}
	return got
}

// The draws match CPython's for the seeds FlashRAG configs use (2024 in both real configs, 2025
// its fallback), zero, negative and multi-word seeds; for small populations (pool branch of
// sample) and large ones (set branch), and for choice sequences like the experiment's answer
// picks.
func TestMatchesCPython(t *testing.T) {
	cases := []tcase{
		{2024, []op{{"bits", 32}, {"bits", 1}, {"bits", 7}, {"bits", 33}, {"bits", 64}}},
		{0, []op{{"bits", 32}, {"bits", 32}}},
		{-5, []op{{"bits", 32}}},
		{1 << 40, []op{{"bits", 32}, {"choice", 3}}},
		{2024, []op{{"sample", 3610, 1000}}},
		{2024, []op{{"sample", 20, 20}, {"sample", 40, 5}, {"sample", 100, 6}}},
		{2025, []op{{"sample", 385, 100}, {"sample", 627, 627}}},
		{7, []op{{"choice", 1}, {"choice", 2}, {"choice", 5}, {"choice", 17}, {"choice", 1000}}},
	}
	// a long choice sequence crosses several Mersenne Twister refills
	long := tcase{Seed: 2024}
	for i := range 2000 {
		long.Ops = append(long.Ops, op{"choice", 1 + i%9})
	}
	cases = append(cases, long)
	want := pythonDraws(t, cases)
	for i, c := range cases {
		got := c.draw(t)
		if !slices.Equal(got, want[i]) {
			n := min(len(got), 12)
			t.Errorf("case %d (seed %d): got %v..., python %v...", i, c.Seed, got[:n], want[i][:min(len(want[i]), 12)])
		}
	}
}

func TestSampleErrors(t *testing.T) {
	r := New(1)
	if _, err := r.Sample(3, 4); err == nil {
		t.Error("sample larger than the population: no error")
	}
	if _, err := r.Choice(0); err == nil {
		t.Error("choice from an empty sequence: no error")
	}
}
