package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/lsrflow/lsrflow/streams"
)

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var metricRE = regexp.MustCompile(`\blsrflow_[a-z_]+`)

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("lsrflow-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range metricRE.FindAllString(string(readme), -1) {
		documented[m] = true
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %q", p.Title, tg.Expr)
			}
			for _, m := range metricRE.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(m, "_bucket")
				used[base] = true
				if !documented[base] {
					t.Errorf("panel %q uses %s, which deploy/README.md does not document", p.Title, m)
				}
			}
		}
	}
	// Every series the runner exports is on the dashboard and documented.
	reg := prometheus.NewRegistry()
	m := streams.NewMetrics(reg)
	m.In.WithLabelValues("s").Inc()
	m.Out.WithLabelValues("s").Inc()
	m.DeadLetters.WithLabelValues("s", "r").Inc()
	m.Retries.WithLabelValues("s").Inc()
	m.Latency.WithLabelValues("s").Observe(1)
	m.Lag.WithLabelValues("s").Set(1)
	m.CommitErrs.WithLabelValues("s").Inc()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if !used[f.GetName()] {
			t.Errorf("runner metric %s is not on the dashboard", f.GetName())
		}
		if !documented[f.GetName()] {
			t.Errorf("runner metric %s is not documented", f.GetName())
		}
	}
	for _, want := range []string{"lsrflow_lm_tokens_total", "lsrflow_teacher_entropy", "lsrflow_train_loss", "lsrflow_eval_recall"} {
		if !used[want] {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}

func TestPrometheusAndProvisioningFiles(t *testing.T) {
	for _, f := range []string{"../prometheus/prometheus.yml", "../prometheus/lsrflow-rules.yml",
		"provisioning/datasources/lsrflow.yml", "provisioning/dashboards/lsrflow.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if strings.HasSuffix(f, "prometheus.yml") {
			if _, ok := v["scrape_configs"]; !ok {
				t.Errorf("%s has no scrape_configs", f)
			}
		}
	}
}
