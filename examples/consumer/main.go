// Command consumer is an example reader of counter's output topics
// (video_aggregations_1, _5, _10) with franz-go. The workers write them in
// Kafka transactions, so a reader must use the read_committed isolation
// level: with read_uncommitted (franz-go's and most clients' default) it would
// also see the counts of aborted transactions, which the workers produce
// again in the transaction that replaces them.
//
//	go run ./examples/consumer --brokers localhost:9094 --topics video_aggregations_1 --finals
//
// It uses nothing of counter but the topic names and the record format, so
// it can be copied as the start of a real consumer.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"
)

// config is what the flags set.
type config struct {
	brokers []string
	topics  []string
	group   string // empty: read every partition from its start, commit nothing
	finals  bool   // only the final count of each (video, window)
}

// aggregation is one output record of counter (README, Topics and formats).
type aggregation struct {
	Type        string `json:"type"`
	VideoUID    string `json:"video_uid"`
	Count       int64  `json:"count"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	Final       bool   `json:"final"`
}

func main() {
	var brokers, topics string
	var cfg config
	flag.StringVar(&brokers, "brokers", "localhost:9094", "Kafka seed brokers, comma-separated host:port")
	flag.StringVar(&topics, "topics", "video_aggregations_1", "output topics to read, comma-separated")
	flag.StringVar(&cfg.group, "group", "", "consumer group (commits its position); empty reads the topics from the start")
	flag.BoolVar(&cfg.finals, "finals", false, "print only final counts (one per video and window)")
	flag.Parse()
	cfg.brokers, cfg.topics = strings.Split(brokers, ","), strings.Split(topics, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := consume(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// consume prints the counts of cfg.topics to out, one line each, until ctx
// ends; fetch errors (retried by the client) go to errOut.
func consume(ctx context.Context, cfg config, out, errOut io.Writer) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ConsumeTopics(cfg.topics...),
		// The one setting that matters: skip aborted transactions and read
		// no further than the last stable offset.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if cfg.group != "" {
		opts = append(opts, kgo.ConsumerGroup(cfg.group))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fmt.Fprintf(errOut, "fetching %s/%d: %v\n", topic, p, err)
			}
		})
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			var a aggregation
			if err := json.Unmarshal(r.Value, &a); err != nil {
				fmt.Fprintf(errOut, "%s/%d@%d: not a count: %v\n", r.Topic, r.Partition, r.Offset, err)
				return
			}
			if cfg.finals && !a.Final {
				return
			}
			state := "open"
			if a.Final {
				state = "final"
			}
			if _, err := fmt.Fprintf(out, "%s %s %s %s %d %s\n", a.Type, a.WindowStart, a.WindowEnd, a.VideoUID, a.Count, state); err != nil && werr == nil {
				werr = err
			}
		})
		if werr != nil {
			return werr
		}
	}
}
