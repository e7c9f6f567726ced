package main

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	ptrain "github.com/lsrflow/lsrflow/processors/train"
	"github.com/lsrflow/lsrflow/schemas"
	"github.com/lsrflow/lsrflow/teachers/answermatch"
)

func TestTeacherEntropyMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	am, err := answermatch.New(answermatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	observe := teacherMetrics(reg, am)
	observe(schemas.Scored{Scores: []float64{0.25, 0.25, 0.25, 0.25}}) // uniform: 1
	observe(schemas.Scored{Scores: []float64{1, 0, 0, 0}})             // one passage: 0
	observe(schemas.Scored{Scores: []float64{1}})                      // k=1: undefined, skipped
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "lsrflow_teacher_entropy" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 2 || math.Abs(h.GetSampleSum()-1) > 1e-12 {
			t.Fatalf("entropy histogram: %d samples, sum %v; want 2 and 1", h.GetSampleCount(), h.GetSampleSum())
		}
		if mf.GetMetric()[0].GetLabel()[0].GetValue() != answermatch.Method {
			t.Fatalf("teacher label %v", mf.GetMetric()[0].GetLabel())
		}
		return
	}
	t.Fatal("lsrflow_teacher_entropy not registered")
}

func TestTrainMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	onRound := trainMetrics(reg)
	onRound(ptrain.Round{Published: true, Steps: 300, Loss: 0.5, HeldOut: map[string]float64{"teacher_hit@5": 0.8}})
	onRound(ptrain.Round{Published: false, Steps: 600, Loss: 0.25})
	want := map[string]float64{"lsrflow_train_loss": 0.25, "lsrflow_train_steps_total": 600}
	mfs, _ := reg.Gather()
	seen := 0
	for _, mf := range mfs {
		if w, ok := want[mf.GetName()]; ok {
			m := mf.GetMetric()[0]
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			if v != w {
				t.Fatalf("%s = %v, want %v", mf.GetName(), v, w)
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of %d train series", seen, len(want))
	}
}
