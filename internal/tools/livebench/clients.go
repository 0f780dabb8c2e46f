package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/counter-dev/counter/internal/testkit/livetest"
)

// receipt is one live event a client received.
type receipt struct {
	video string
	count uint64
	at    int64 // unix nanos
}

// runClients reads "URL <base>", connects p.clients clients (client c
// registers videos c·k … c·k+k-1 modulo p.videos and consumes the 1-minute
// counts), prints "READY", and on "STOP" writes "video count at_unix_nanos"
// per event received after READY and prints "DONE <path>".
func runClients(p params) error {
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		return fmt.Errorf("clients: no URL")
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(in.Text()), "URL ")
	if !ok {
		return fmt.Errorf("clients: got %q, want URL", in.Text())
	}
	var (
		mu       sync.Mutex
		recorded bool
		receipts = make([][]receipt, p.clients)
	)
	clients := make([]*livetest.Client, p.clients)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sem := make(chan struct{}, 50) // connect 50 at a time
	var wg sync.WaitGroup
	errs := make(chan error, p.clients)
	for c := range p.clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var rooms []string
			for k := range p.perClient {
				rooms = append(rooms, videoID((c*p.perClient+k)%p.videos))
			}
			cl, err := livetest.Dial(ctx, url, func(e livetest.Event) {
				if e.Name != "live_aggregations_1" || len(e.Args) == 0 {
					return
				}
				var pl struct {
					ID    string `json:"id"`
					Count uint64 `json:"count"`
				}
				if json.Unmarshal(e.Args[0], &pl) != nil {
					return
				}
				mu.Lock()
				if recorded {
					receipts[c] = append(receipts[c], receipt{pl.ID, pl.Count, e.At.UnixNano()})
				}
				mu.Unlock()
			})
			if err != nil {
				errs <- err
				return
			}
			clients[c] = cl
			if _, err := cl.Call(ctx, "register_room", map[string]any{"rooms": rooms}); err != nil {
				errs <- err
				return
			}
			if _, err := cl.Call(ctx, "consume_1_min_aggregations", map[string]any{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("connecting clients: %w", err)
	}
	mu.Lock()
	recorded = true
	mu.Unlock()
	fmt.Println("READY")
	if !in.Scan() || strings.TrimSpace(in.Text()) != "STOP" {
		return fmt.Errorf("clients: no STOP")
	}
	mu.Lock()
	recorded = false
	mu.Unlock()
	gone := 0
	for _, cl := range clients {
		select {
		case <-cl.Done():
			gone++
		default:
		}
	}
	path := filepath.Join(p.dir, "receipts.log")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	mu.Lock()
	for c := range receipts {
		for _, r := range receipts[c] {
			fmt.Fprintf(w, "%s %d %d\n", r.video, r.count, r.at)
		}
	}
	mu.Unlock() // before closing: the clients' callbacks take mu
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "livebench: %d of %d clients were disconnected\n", gone, p.clients)
	fmt.Println("DONE", path)
	var closing sync.WaitGroup
	for _, cl := range clients {
		closing.Go(cl.Close)
	}
	closing.Wait()
	return nil
}
