package streams

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the per-stage Prometheus series the runner maintains. Create one set per
// registry with NewMetrics and share it between the stages of a process.
type Metrics struct {
	In          *prometheus.CounterVec
	Out         *prometheus.CounterVec
	DeadLetters *prometheus.CounterVec
	Retries     *prometheus.CounterVec
	Latency     *prometheus.HistogramVec
	Lag         *prometheus.GaugeVec
	CommitErrs  *prometheus.CounterVec
	// Stalled is 1 while the stall watchdog sees partitions of the stage's input with lag
	// and no progress for longer than the stage's StallTimeout; Rejoins counts the group
	// rejoins it triggered.
	Stalled *prometheus.GaugeVec
	Rejoins *prometheus.CounterVec
}

// NewMetrics registers the runner's series on reg (nil: a private registry, nothing exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		In: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsrflow_records_in_total", Help: "Records consumed by a stage.",
		}, []string{"stage"}),
		Out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsrflow_records_out_total", Help: "Records published by a stage (acknowledged).",
		}, []string{"stage"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsrflow_dead_letters_total", Help: "Inputs sent to the dead-letter topic.",
		}, []string{"stage", "reason"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsrflow_retries_total", Help: "Retried attempts of Process or Publish.",
		}, []string{"stage"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lsrflow_process_seconds", Help: "Time from fetch to acknowledged outputs, per input.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"stage"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lsrflow_consumer_lag", Help: "Messages on the stage's assigned partitions not yet fetched.",
		}, []string{"stage"}),
		CommitErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsrflow_commit_errors_total", Help: "Failed offset commits (inputs are redelivered).",
		}, []string{"stage"}),
		Stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lsrflow_stage_stalled", Help: "1 while partitions of the stage's input have lag and no progress for longer than the stall timeout.",
		}, []string{"stage"}),
		Rejoins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsrflow_stage_rejoins_total", Help: "Consumer group rejoins triggered by the stall watchdog.",
		}, []string{"stage"}),
	}
	if reg != nil {
		reg.MustRegister(m.In, m.Out, m.DeadLetters, m.Retries, m.Latency, m.Lag, m.CommitErrs, m.Stalled, m.Rejoins)
	}
	return m
}
