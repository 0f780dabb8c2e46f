package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A transaction commit in kfake is not atomic across a crash
// (docs/embedded-broker.md, "A commit cut in half by a crash"): EndTxn
// writes the COMMIT markers partition by partition and then applies the
// transaction's group offsets, all in memory-to-page-cache steps with
// nothing logged first. A SIGKILL in between leaves some partitions
// committed, the others without a marker, and the consumed offsets not
// moved: the consumer reads its input again and its outputs are written
// twice, or — once the unmarked partitions are aborted — lost.
//
// Kafka's coordinator logs PREPARE_COMMIT before it writes a marker and
// completes the commit after a crash. The intent journal plays that part:
// the EndTxn(commit) being handled is written to a file before kfake sees
// it, with the offsets the transaction commits (gathered from its
// TxnOffsetCommit requests). At start-up, recovery completes a transaction
// kfake began to commit — a COMMIT marker of its producer and epoch exists
// — with COMMIT markers where they are missing and its offsets where the
// group is behind them.
//
// Only the last commit can be incomplete: kfake handles requests one at a
// time, so an EndTxn is complete once the next request is handled; the
// journal keeps just the newest one.

// commitIntent is a transaction commit about to be handled.
type commitIntent struct {
	ProducerID int64 `json:"producer_id"`
	Epoch      int16 `json:"epoch"`
	// EndTxnVersion is the request's version: from v5 on (KIP-890) every
	// transaction of a producer has an epoch of its own, which is what
	// ties markers to this transaction.
	EndTxnVersion int16                      `json:"end_txn_version"`
	Group         string                     `json:"group,omitempty"`
	Offsets       map[string]map[int32]int64 `json:"offsets,omitempty"` // topic -> partition -> offset
}

// intentJournal captures commit intents through kfake control functions.
type intentJournal struct {
	path string
	c    *kfake.Cluster
	log  *slog.Logger

	mu      sync.Mutex
	pending map[int64]*commitIntent // producer id -> offsets of its open transaction
	written bool                    // the journal file exists
}

// intentFile is the journal's file in the broker's data dir.
func intentFile(dataDir string) string {
	return filepath.Join(dataDir, "counter", "commit-intent.json")
}

// journalCommits installs the control functions that keep the journal.
func journalCommits(c *kfake.Cluster, dataDir string, log *slog.Logger) *intentJournal {
	j := &intentJournal{path: intentFile(dataDir), c: c, log: log, pending: map[int64]*commitIntent{}}
	_, err := os.Stat(j.path)
	j.written = err == nil
	c.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		j.offsets(req.(*kmsg.TxnOffsetCommitRequest))
		return nil, nil, false
	})
	c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if err := j.endTxn(req.(*kmsg.EndTxnRequest)); err != nil {
			// Without the intent, a crash in this commit could not be
			// completed: refuse it, the client retries.
			log.Error("writing the commit intent; refusing the commit", "err", err)
			resp := req.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = 15 // COORDINATOR_NOT_AVAILABLE: retriable
			return resp, nil, true
		}
		return nil, nil, false
	})
	// A group's offsets changed by hand (a reset) must not be moved back
	// by an old intent at the next start.
	for _, key := range []kmsg.Key{kmsg.OffsetCommit, kmsg.OffsetDelete, kmsg.DeleteGroups} {
		c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			j.forget()
			return nil, nil, false
		})
	}
	return j
}

// offsets gathers the offsets a transaction commits.
func (j *intentJournal) offsets(req *kmsg.TxnOffsetCommitRequest) {
	j.mu.Lock()
	defer j.mu.Unlock()
	in := j.pending[req.ProducerID]
	if in == nil || in.Epoch != req.ProducerEpoch || in.Group != req.Group {
		in = &commitIntent{ProducerID: req.ProducerID, Epoch: req.ProducerEpoch, Group: req.Group, Offsets: map[string]map[int32]int64{}}
		j.pending[req.ProducerID] = in
	}
	for _, t := range req.Topics {
		topic := t.Topic
		if topic == "" { // v6+: by topic id
			ti := j.c.TopicIDInfo(t.TopicID)
			if ti == nil {
				continue // kfake answers UNKNOWN_TOPIC_ID
			}
			topic = ti.Topic
		}
		if in.Offsets[topic] == nil {
			in.Offsets[topic] = map[int32]int64{}
		}
		for _, p := range t.Partitions {
			in.Offsets[topic][p.Partition] = p.Offset
		}
	}
}

// endTxn writes the intent of a commit before kfake handles it.
func (j *intentJournal) endTxn(req *kmsg.EndTxnRequest) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	in := j.pending[req.ProducerID]
	delete(j.pending, req.ProducerID)
	if !req.Commit {
		return nil
	}
	if in == nil || in.Epoch != req.ProducerEpoch {
		in = &commitIntent{}
	}
	in.ProducerID, in.Epoch, in.EndTxnVersion = req.ProducerID, req.ProducerEpoch, req.Version
	b, err := jsonIntent(in)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(j.path, b); err != nil {
		return err
	}
	j.written = true
	return nil
}

func jsonIntent(in *commitIntent) ([]byte, error) { return json.Marshal(in) }

// forget drops the journal: every commit it holds is complete.
func (j *intentJournal) forget() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.written {
		return
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.log.Warn("removing the commit intent", "err", err)
		return
	}
	j.written = false
}

// readIntent reads the journal of a data dir; nil when there is none.
func readIntent(dataDir string) (*commitIntent, error) {
	b, err := os.ReadFile(intentFile(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var in commitIntent
	if err := json.Unmarshal(b, &in); err != nil {
		// A torn write cannot happen (rename); anything else is not
		// ours to guess about.
		return nil, fmt.Errorf("%s: %w", intentFile(dataDir), err)
	}
	return &in, nil
}

// writeFileAtomic replaces path with b: readers see the old or the new
// content, never a mix.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
