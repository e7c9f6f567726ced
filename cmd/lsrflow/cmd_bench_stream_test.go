package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// bench stream runs end to end on a small size: the four rates and the ratio, in that order,
// each a positive number, and the ratio the Kafka rate over the slower raw rate.
func TestBenchStreamPrintsRatesAndRatio(t *testing.T) {
	code, out, errOut := cli(t, "bench", "stream", "--records", "3000", "--size", "256", "--rounds", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	re := regexp.MustCompile(`(?m)^(memory two-stage|kafka two-stage|raw produce|raw consume)\s+([0-9]+) records/s$`)
	rates := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		rates[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	if len(rates) != 4 {
		t.Fatalf("want four rates, got %v in\n%s", rates, out)
	}
	for k, v := range rates {
		if v <= 0 {
			t.Errorf("%s = %v", k, v)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	r, err := strconv.ParseFloat(strings.TrimPrefix(last, "kafka/raw = "), 64)
	if !strings.HasPrefix(last, "kafka/raw = ") || err != nil {
		t.Fatalf("last line %q, want kafka/raw = R", last)
	}
	// The printed rates are rounded: allow for it.
	want := rates["kafka two-stage"] / min(rates["raw produce"], rates["raw consume"])
	if d := r - want; d > 0.01 || d < -0.01 {
		t.Errorf("kafka/raw = %v, the printed rates give %v", r, want)
	}
	if code, _, _ := cli(t, "bench", "stream", "--records", "0"); code != 2 {
		t.Errorf("--records 0: exit %d, want 2", code)
	}
}
