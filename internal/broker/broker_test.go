package broker_test

import (
	"net"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lsrflow/lsrflow/internal/broker"
)

func TestValidateAndParseAddr(t *testing.T) {
	bad := []broker.Config{
		{Brokers: -1},
		{Brokers: 2, Ports: []int{9092}},
		{Ports: []int{70000}},
		{Partitions: -3},
		{Topics: []string{"a,b"}},
		{Topics: []string{""}},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if err := (broker.Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	for addr, want := range map[string]int{"127.0.0.1:9092": 9092, ":0": 0, "localhost:19092": 19092} {
		if got, err := broker.ParseAddr(addr); err != nil || got != want {
			t.Errorf("ParseAddr(%q) = %d, %v; want %d", addr, got, err, want)
		}
	}
	for _, addr := range []string{"0.0.0.0:9092", "example.com:1", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:-1"} {
		if _, err := broker.ParseAddr(addr); err == nil {
			t.Errorf("ParseAddr(%q): want an error", addr)
		}
	}
}

func TestStartSeedsTopicsOnLoopback(t *testing.T) {
	b, err := broker.Start(broker.Config{Brokers: 3, Partitions: 5, Topics: []string{"queries", "scored"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	defer b.Close() // idempotent
	if len(b.Addrs()) != 3 || strings.Count(b.Bootstrap(), ",") != 2 {
		t.Fatalf("addrs %v, bootstrap %q", b.Addrs(), b.Bootstrap())
	}
	for _, a := range b.Addrs() {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			t.Errorf("broker listens on %s, want 127.0.0.1 only", a)
		}
	}
	meta, err := (&kafkago.Client{Addr: kafkago.TCP(b.Addrs()...)}).Metadata(t.Context(), &kafkago.MetadataRequest{Topics: []string{"queries", "scored"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Brokers) != 3 || len(meta.Topics) != 2 {
		t.Fatalf("metadata: %d brokers, %d topics", len(meta.Brokers), len(meta.Topics))
	}
	for _, tp := range meta.Topics {
		if tp.Error != nil || len(tp.Partitions) != 5 {
			t.Errorf("topic %s: %d partitions, err %v; want 5", tp.Name, len(tp.Partitions), tp.Error)
		}
	}
}
