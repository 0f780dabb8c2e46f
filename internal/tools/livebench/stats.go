package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// result is what the benchmark measured.
type result struct {
	records, events, unmatched int
	latencies                  []time.Duration // sorted
	cpu, wall                  time.Duration
	dropped, pushes            float64
}

type recordKey struct {
	video string
	count uint64
}

// report joins the commit log and the receipt log.
func report(commitsPath, receiptsPath string) (*result, error) {
	commits := map[recordKey]int64{}
	err := readLog(commitsPath, func(video string, count uint64, at int64) {
		commits[recordKey{video, count}] = at
	})
	if err != nil {
		return nil, err
	}
	r := &result{records: len(commits)}
	err = readLog(receiptsPath, func(video string, count uint64, at int64) {
		r.events++
		c, ok := commits[recordKey{video, count}]
		if !ok {
			r.unmatched++ // a snapshot or a count from before the measurement
			return
		}
		r.latencies = append(r.latencies, time.Duration(at-c))
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(r.latencies)
	return r, nil
}

func readLog(path string, f func(video string, count uint64, at int64)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var (
			video string
			count uint64
			at    int64
		)
		if _, err := fmt.Sscan(sc.Text(), &video, &count, &at); err != nil {
			return fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		f(video, count, at)
	}
	return sc.Err()
}

// percentile returns the q-quantile (0..1) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func (r *result) print(w io.Writer, p params) {
	secs := r.wall.Seconds()
	fmt.Fprintf(w, "clients %d × %d videos, %d videos updated, %d updates/s for %v, flush interval %v\n",
		p.clients, p.perClient, p.videos, p.rate, p.duration, p.flush)
	fmt.Fprintf(w, "records committed   %d (%.0f/s)\n", r.records, float64(r.records)/secs)
	fmt.Fprintf(w, "room pushes         %.0f (%.0f/s)\n", r.pushes, r.pushes/secs)
	fmt.Fprintf(w, "events received     %d (%.0f/s), %d measured\n", r.events, float64(r.events)/secs, len(r.latencies))
	fmt.Fprintf(w, "commit → client     p50 %v  p90 %v  p99 %v  max %v\n",
		round(percentile(r.latencies, .5)), round(percentile(r.latencies, .9)), round(percentile(r.latencies, .99)), round(percentile(r.latencies, 1)))
	fmt.Fprintf(w, "API CPU             %.2f s over %.1f s = %.0f%% of one core\n", r.cpu.Seconds(), secs, 100*r.cpu.Seconds()/secs)
	fmt.Fprintf(w, "slow clients dropped %.0f\n", r.dropped)
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
