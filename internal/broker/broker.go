package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config describes the cluster to start. The zero value is one broker on a random port with
// three partitions per auto-created topic.
type Config struct {
	// Ports to listen on, one per broker; empty picks random free ports.
	Ports []int
	// Brokers is the number of brokers when Ports is empty (default 1).
	Brokers int
	// Partitions is the partition count of auto-created and seeded topics (default 3).
	Partitions int
	// Topics are created at start with Partitions partitions.
	Topics []string
	// Log receives the broker's notes (members removed for silence); nil discards them.
	Log *slog.Logger
}

// Validate reports a config that cannot start.
func (c Config) Validate() error {
	if c.Brokers < 0 || c.Brokers > 16 {
		return fmt.Errorf("broker: %d brokers: want 1..16", c.Brokers)
	}
	if len(c.Ports) > 0 && c.Brokers > 0 && c.Brokers != len(c.Ports) {
		return fmt.Errorf("broker: %d ports for %d brokers", len(c.Ports), c.Brokers)
	}
	for _, p := range c.Ports {
		if p < 0 || p > 65535 {
			return fmt.Errorf("broker: port %d out of range", p)
		}
	}
	if c.Partitions < 0 || c.Partitions > 10000 {
		return fmt.Errorf("broker: %d partitions: want 1..10000", c.Partitions)
	}
	for _, t := range c.Topics {
		if t == "" || strings.ContainsAny(t, " ,/\\") {
			return fmt.Errorf("broker: invalid topic name %q", t)
		}
	}
	return nil
}

// Broker is a running in-process cluster.
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string
	stop    context.CancelFunc
	done    chan struct{}
	client  *kgo.Client
}

// Start starts a cluster as cfg describes.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	parts := cfg.Partitions
	if parts == 0 {
		parts = 3
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	watch := newSessionWatch(log)
	opts := []kfake.Opt{
		// Every connection passes the session watch's tap (see sessions.go: kfake would keep a
		// member that died during its join forever).
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			l, err := net.Listen(network, addr)
			if err != nil {
				return nil, err
			}
			return tapListener{Listener: l, w: watch}, nil
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(parts),
		// Accept the short session timeouts lsrflow's tests use for fast rebalances.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	switch {
	case len(cfg.Ports) > 0:
		opts = append(opts, kfake.Ports(cfg.Ports...))
	default:
		n := cfg.Brokers
		if n == 0 {
			n = 1
		}
		opts = append(opts, kfake.NumBrokers(n))
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(parts), cfg.Topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start kfake cluster: %w", err)
	}
	b := &Broker{cluster: c, addrs: c.ListenAddrs(), done: make(chan struct{})}
	// The watch removes silent members through the wire protocol, as a client of the cluster.
	b.client, err = kgo.NewClient(kgo.SeedBrokers(b.addrs...), kgo.ClientID("lsrflow-broker-sessions"))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("broker: session watch client: %w", err)
	}
	watch.client = b.client
	ctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	go func() {
		defer close(b.done)
		watch.run(ctx, c)
	}()
	return b, nil
}

// Addrs returns the host:port of every broker.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Bootstrap returns the comma-separated bootstrap address list clients connect to.
func (b *Broker) Bootstrap() string { return strings.Join(b.addrs, ",") }

// Close shuts the cluster down.
func (b *Broker) Close() {
	b.stop()
	<-b.done
	b.client.Close()
	b.cluster.Close()
}

// ParseAddr parses a listen address such as "127.0.0.1:9092" or ":9092" into a port. Only
// loopback hosts are accepted because the cluster listens on 127.0.0.1 only.
func ParseAddr(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("broker: address %q: %w", addr, err)
	}
	if host != "" && host != "127.0.0.1" && host != "localhost" {
		return 0, errors.New("broker: address " + addr + ": only 127.0.0.1 is supported")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("broker: address %q: bad port", addr)
	}
	return p, nil
}
