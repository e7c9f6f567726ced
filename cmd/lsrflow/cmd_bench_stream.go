package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lsrflow/lsrflow/internal/broker"
	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/kafka"
	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/streams/streambench"
)

func benchStream(ctx context.Context, sio stdio, args []string) error {
	f := newFlags(sio, "bench stream", "[--brokers host:port] [--records N] [--size B]", `
Measures the stage runner against its ceiling, in one run: the two-stage pass-through
topology (a stage copying each record to a second topic, then a counting stage) on the
embedded memory transport and on Kafka, and on the same broker the Kafka client's own
produce and consume rates (franz-go, idempotent, acks=all). Without --brokers an in-process
'lsrflow broker' is started. Values are incompressible random bytes. After an untimed
warm-up, --rounds interleaved rounds; prints the median records/s of each and, last,
kafka/raw = the Kafka topology's rate over the slower of raw produce and raw consume.`)
	brokers := f.String("brokers", "", "Kafka bootstrap brokers host:port[,...]; empty: an in-process lsrflow broker")
	records := f.Int("records", 200000, "records per measurement")
	size := f.Int("size", 1024, "value bytes per record")
	partitions := f.Int("partitions", 3, "partitions of the topics the run creates")
	concurrency := f.Int("concurrency", 2, "concurrency of the pass-through stage")
	rounds := f.Int("rounds", 3, "measurement rounds (medians are printed)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *records < 1 || *size < 0 || *partitions < 1 || *concurrency < 1 || *rounds < 1 {
		return usagef("--records, --partitions, --concurrency and --rounds must be positive, --size not negative")
	}
	addrs := kafka.ParseBrokers(*brokers)
	if len(addrs) == 0 {
		b, err := broker.Start(broker.Config{Partitions: *partitions})
		if err != nil {
			return err
		}
		defer b.Close()
		addrs = b.Addrs()
		fmt.Fprintf(sio.err, "bench stream: in-process broker on %s\n", strings.Join(addrs, ","))
	}
	kt, err := kafka.New(kafka.Config{Brokers: addrs, DefaultPartitions: *partitions})
	if err != nil {
		return usagef("--brokers: %v", err)
	}
	defer kt.Close()
	// Consumed records are freed as the stages commit (Kafka retention would do the same), so
	// the memory numbers measure the transport, not the growth of the process's heap.
	newMem := func() streams.Transport {
		return memory.New(memory.WithDefaultPartitions(*partitions), memory.WithTrimCommitted())
	}
	r, err := streambench.Compare(ctx, newMem, kt, streambench.Options{
		Records: *records, Size: *size, Partitions: *partitions, Concurrency: *concurrency,
		Prefix: fmt.Sprintf("bench-stream-%d", time.Now().UnixNano()),
	}, *rounds)
	if err != nil {
		return err
	}
	fmt.Fprintf(sio.out, "memory two-stage  %10.0f records/s\n", r.Memory)
	fmt.Fprintf(sio.out, "kafka two-stage   %10.0f records/s\n", r.Kafka)
	fmt.Fprintf(sio.out, "raw produce       %10.0f records/s\n", r.RawProduce)
	fmt.Fprintf(sio.out, "raw consume       %10.0f records/s\n", r.RawConsume)
	fmt.Fprintf(sio.out, "kafka/raw = %.2f\n", r.Ratio())
	return nil
}
