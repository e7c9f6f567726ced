package kafka_test

import (
	"testing"
	"time"

	"github.com/lsrflow/lsrflow/internal/broker"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
	"github.com/lsrflow/lsrflow/streams/streamstest"
)

// testConfig returns a config tuned for fast group joins against an in-process broker.
func testConfig(addrs []string) kafka.Config {
	return kafka.Config{
		Brokers:           addrs,
		ClientID:          "lsrflow-test",
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    2 * time.Second,
		RebalanceTimeout:  2 * time.Second,
		MaxWait:           100 * time.Millisecond,
	}
}

func startBroker(t testing.TB, brokers int) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{Brokers: brokers})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func newTransport(t testing.TB, addrs []string) *kafka.Transport {
	t.Helper()
	tr, err := kafka.New(testConfig(addrs))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestContract(t *testing.T) {
	b := startBroker(t, 1)
	streamstest.Run(t, func(t *testing.T) streams.Transport { return newTransport(t, b.Addrs()) })
}
