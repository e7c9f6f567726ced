package kafka

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config configures a Transport. Zero durations take the defaults listed on each field.
type Config struct {
	// Brokers are the bootstrap host:port addresses (required).
	Brokers []string
	// ClientID names this client in broker logs (default "lsrflow").
	ClientID string
	// DialTimeout bounds connecting to a broker (default 10s).
	DialTimeout time.Duration
	// WriteTimeout bounds one produce request (default 10s).
	WriteTimeout time.Duration
	// CommitTimeout bounds a Commit whose context has no earlier deadline (default 10s).
	CommitTimeout time.Duration
	// JoinTimeout bounds how long Subscribe waits for the first group assignment (default 60s).
	JoinTimeout time.Duration
	// HeartbeatInterval is how often group members heartbeat; members notice a rebalance
	// within about one interval (default 1s).
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the coordinator waits for a silent member before it removes it
	// (default 10s; a crashed process's partitions move after this).
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to rejoin (default 10s).
	RebalanceTimeout time.Duration
	// MaxWait bounds one fetch long-poll on an idle partition (default 500ms).
	MaxWait time.Duration
	// BatchTimeout is how long the producer lingers to fill a batch of one partition (default
	// 2ms: a synchronous Publish pays it in latency; pipelined publishing fills batches
	// while earlier ones are in flight anyway).
	BatchTimeout time.Duration
	// MaxBufferedRecords bounds the records the producer holds unacknowledged; PublishAsync
	// blocks beyond it (default 10000).
	MaxBufferedRecords int
	// InstanceID, when set, makes every consumer a static group member (KIP-345) with
	// instance id InstanceID + "/" + group. A process restarted after a crash then takes its
	// predecessor's place at once instead of waiting for its session to expire. Two live
	// processes must never share an InstanceID: the broker fences one of them.
	InstanceID string
	// TransactionTimeout bounds an exactly-once stage's open transaction: the broker aborts it
	// if its producer goes silent that long (default 60s; at most the broker's
	// transaction.max.timeout.ms).
	TransactionTimeout time.Duration
	// DefaultPartitions and DefaultReplication are used by EnsureTopics for a TopicSpec that
	// leaves them at zero (defaults 3 and 1).
	DefaultPartitions  int
	DefaultReplication int
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.ClientID == "" {
		c.ClientID = "lsrflow"
	}
	def(&c.DialTimeout, 10*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.CommitTimeout, 10*time.Second)
	def(&c.JoinTimeout, 60*time.Second)
	def(&c.HeartbeatInterval, time.Second)
	def(&c.SessionTimeout, 10*time.Second)
	def(&c.RebalanceTimeout, 10*time.Second)
	def(&c.MaxWait, 500*time.Millisecond)
	def(&c.BatchTimeout, 2*time.Millisecond)
	def(&c.TransactionTimeout, 60*time.Second)
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = 10000
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 3
	}
	if c.DefaultReplication == 0 {
		c.DefaultReplication = 1
	}
	return c
}

// Validate reports the first problem with c (after defaults are applied).
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka config: no brokers")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil || strings.TrimSpace(b) != b {
			return fmt.Errorf("kafka config: broker %q is not host:port", b)
		}
	}
	c = c.withDefaults()
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial timeout", c.DialTimeout}, {"write timeout", c.WriteTimeout}, {"commit timeout", c.CommitTimeout},
		{"join timeout", c.JoinTimeout}, {"heartbeat interval", c.HeartbeatInterval},
		{"session timeout", c.SessionTimeout}, {"rebalance timeout", c.RebalanceTimeout},
		{"max wait", c.MaxWait}, {"batch timeout", c.BatchTimeout}, {"transaction timeout", c.TransactionTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("kafka config: negative %s %v", d.name, d.v)
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return fmt.Errorf("kafka config: heartbeat interval %v must be below the session timeout %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.DefaultPartitions < 0 || c.DefaultReplication < 0 {
		return errors.New("kafka config: negative default partitions or replication")
	}
	if c.MaxBufferedRecords < 0 {
		return errors.New("kafka config: negative max buffered records")
	}
	return nil
}

// ParseBrokers splits a comma-separated broker list ("h1:9092,h2:9092").
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
