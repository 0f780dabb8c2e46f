package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/broker"
	"github.com/counter-dev/counter/internal/pipeline/partition"
	"github.com/counter-dev/counter/internal/pipeline/record"
	"github.com/counter-dev/counter/internal/pipeline/topics"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// videoID names video i of the benchmark.
func videoID(i int) string { return fmt.Sprintf("bench-%05d", i) }

// runProducer starts the broker, prints its address, and on "GO" writes
// p.rate records per second for p.duration in transactions of 100 ms,
// logging "video count commit_unix_nanos" per record; then prints "DONE
// <log path>" and waits for "QUIT".
func runProducer(p params) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.Start(broker.Config{Port: 0, Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	sizes, _ := window.ParseSizes([]string{"1m"})
	const partitions = 6
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := topics.Ensure(ctx, kadm.NewClient(adm), sizes, topics.Spec{Partitions: partitions, Replication: 1}); err != nil {
		return err
	}
	adm.Close()
	fmt.Println("BROKER", b.Addrs()[0])

	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || strings.TrimSpace(in.Text()) != "GO" {
		return fmt.Errorf("producer: no GO")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.TransactionalID("livebench"), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	path := filepath.Join(p.dir, "commits.log")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	topic := topics.Output(sizes[0])
	counts := make([]uint64, p.videos)
	perTxn := max(p.rate/10, 1)
	next := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(p.duration)
	type sent struct {
		video int
		count uint64
	}
	batch := make([]sent, 0, perTxn)
	for now := range tick.C {
		if now.After(end) {
			break
		}
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		win := window.Of(now.UnixMilli(), sizes[0].Millis)
		batch = batch[:0]
		recs := make([]*kgo.Record, 0, perTxn)
		for range perTxn {
			v := next % p.videos
			next++
			counts[v]++
			id := []byte(videoID(v))
			val := record.AppendAggregation(nil, sizes[0].Label, string(id), counts[v], win.Start, win.End(), false)
			recs = append(recs, &kgo.Record{Topic: topic, Key: id, Value: val, Partition: partition.ForKey(id, partitions)})
			batch = append(batch, sent{v, counts[v]})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		committed := time.Now().UnixNano()
		for _, s := range batch {
			fmt.Fprintf(w, "%s %d %d\n", videoID(s.video), s.count, committed)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println("DONE", path)
	for in.Scan() { // until QUIT or the parent goes away
		if strings.TrimSpace(in.Text()) == "QUIT" {
			break
		}
	}
	return nil
}
