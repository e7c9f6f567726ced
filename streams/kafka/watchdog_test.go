package kafka_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
)

// A process of the test binary started with memberEnv set runs one pass-through stage member
// (see runMember) instead of the tests: a group member that can be frozen with SIGSTOP.
const memberEnv = "LSRFLOW_KAFKA_TEST_MEMBER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(memberEnv); spec != "" {
		os.Exit(runMember(spec))
	}
	os.Exit(m.Run())
}

// watchdog test settings: the frozen member's session outlives the whole recovery, so only the
// watchdog's rejoin (bounded by the rebalance timeout) can free its partitions in time.
const (
	wdSession   = 40 * time.Second
	wdRebalance = 4 * time.Second
	wdStall     = 2 * time.Second
)

func wdConfig(brokers []string) kafka.Config {
	return kafka.Config{Brokers: brokers, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: wdSession,
		RebalanceTimeout: wdRebalance, MaxWait: 100 * time.Millisecond}
}

func passThrough() streams.Processor {
	return streams.ProcessorFunc(func(_ context.Context, m streams.Message) ([]streams.Message, error) {
		return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
	})
}

// runMember runs the stage "brokers|in|out|group[|eos]" until SIGTERM; with eos it is an
// exactly-once stage with a stable instance id.
func runMember(spec string) int {
	f := strings.Split(spec, "|")
	cfg := wdConfig(strings.Split(f[0], ","))
	eos := len(f) > 4 && f[4] == "eos"
	if eos {
		cfg.SessionTimeout, cfg.InstanceID = 5*time.Second, "eos-member"
	}
	tr, err := kafka.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tr.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	proc := passThrough()
	if eos { // slow enough that kills land in the middle of transactions
		proc = streams.ProcessorFunc(func(ctx context.Context, m streams.Message) ([]streams.Message, error) {
			time.Sleep(2 * time.Millisecond)
			return []streams.Message{{Key: m.Key, Value: m.Value}}, nil
		})
	}
	err = streams.NewRunner(tr, nil, nil).Run(ctx, streams.Stage{Name: "member", Group: f[3], Input: f[1], Output: f[2],
		Processor: proc, StallTimeout: -1, ExactlyOnce: eos, Concurrency: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// describe returns the group's state and how many partitions each member holds.
func describe(t *testing.T, cl *kgo.Client, group string) (string, []int) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil || len(resp.Groups) != 1 {
		return fmt.Sprint(err), nil
	}
	var held []int
	for _, m := range resp.Groups[0].Members {
		var a kmsg.ConsumerMemberAssignment
		_ = a.ReadFrom(m.MemberAssignment)
		n := 0
		for _, tp := range a.Topics {
			n += len(tp.Partitions)
		}
		held = append(held, n)
	}
	return resp.Groups[0].State, held
}

// TestWatchdogRejoinsPastFrozenMember is issue 17's watchdog done-when: two members of a
// group share a topic; one is frozen with SIGSTOP (its session would last wdSession); the
// other's stall watchdog sees the frozen member's partitions lag without progress, reports it
// in lsrflow_stage_stalled and rejoins; the rebalance drops the frozen member after the
// rebalance timeout and every message is consumed long before its session would have expired.
func TestWatchdogRejoinsPastFrozenMember(t *testing.T) {
	b := startBroker(t, 1)
	brokers := b.Addrs()
	ctx := t.Context()
	admin := newTransport(t, brokers)
	defer admin.Close()
	const in, out, group, parts = "wd-in", "wd-out", "wd-group", 4
	if err := admin.EnsureTopics(ctx, streams.TopicSpec{Name: in, Partitions: parts}, streams.TopicSpec{Name: out, Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	wave := func(w, n int) map[string]bool {
		msgs := make([]streams.Message, n)
		want := map[string]bool{}
		for i := range msgs {
			v := fmt.Sprintf("w%d-%d", w, i)
			msgs[i] = streams.Message{Key: []byte(v), Value: []byte(v)}
			want[v] = true
		}
		if err := admin.Publish(ctx, in, msgs...); err != nil {
			t.Fatal(err)
		}
		return want
	}
	collector, err := admin.Subscribe(ctx, out, "wd-collector")
	if err != nil {
		t.Fatal(err)
	}
	awaitOut := func(want map[string]bool, d time.Duration) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		for len(want) > 0 {
			m, err := collector.Fetch(cctx)
			if err != nil {
				t.Fatalf("%d messages still missing: %v", len(want), err)
			}
			delete(want, string(m.Value))
		}
	}

	// Member B, another process, consumes the first wave alone.
	frozen := exec.Command(os.Args[0], "-test.run=^$")
	frozen.Env = append(os.Environ(), memberEnv+"="+strings.Join(brokers, ",")+"|"+in+"|"+out+"|"+group)
	frozen.Stderr = os.Stderr
	if err := frozen.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = frozen.Process.Signal(syscall.SIGCONT)
		_ = frozen.Process.Kill()
		_ = frozen.Wait()
	}()
	awaitOut(wave(1, 40), 60*time.Second)

	// Member A, this process, with the watchdog; wait until both hold partitions.
	tr, err := kafka.New(wdConfig(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	m := streams.NewMetrics(prometheus.NewRegistry())
	rctx, stopA := context.WithCancel(ctx)
	doneA := make(chan error, 1)
	go func() {
		doneA <- streams.NewRunner(tr, m, nil).Run(rctx, streams.Stage{Name: "a", Group: group, Input: in, Output: out,
			Processor: passThrough(), StallTimeout: wdStall})
	}()
	defer func() { stopA(); <-doneA }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		state, held := describe(t, cl, group)
		if state == "Stable" && len(held) == 2 && held[0] > 0 && held[1] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never split between the two members: %s %v", group, state, held)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Freeze B, publish the second wave: B's partitions get lag nobody consumes.
	if err := frozen.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	want := wave(2, 80)
	stalled := make(chan struct{})
	go func() {
		for testutil.ToFloat64(m.Stalled.WithLabelValues("a")) != 1 {
			if rctx.Err() != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(stalled)
	}()
	awaitOut(want, wdSession-5*time.Second)
	recovered := time.Since(frozenAt)
	select {
	case <-stalled:
	default:
		t.Fatal("every message arrived but lsrflow_stage_stalled never went to 1")
	}
	if n := testutil.ToFloat64(m.Rejoins.WithLabelValues("a")); n < 1 {
		t.Fatalf("rejoins = %v, want at least 1", n)
	}
	if recovered >= wdSession {
		t.Fatalf("recovered after %v: the frozen member's session expiry did it, not the watchdog", recovered)
	}
	t.Logf("frozen member's partitions consumed %v after SIGSTOP (its session: %v; stall timeout %v, rebalance timeout %v)",
		recovered.Round(time.Millisecond), wdSession, wdStall, wdRebalance)
	for testutil.ToFloat64(m.Stalled.WithLabelValues("a")) != 0 {
		if time.Since(frozenAt) > wdSession {
			t.Fatal("lsrflow_stage_stalled did not clear after the recovery")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
