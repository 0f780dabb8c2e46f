package bench

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// The latency scenario matches likes with the counts that cover them. The
// likes of one video are keyed by the video id and go to one partition, so
// a worker counts them in the order of their offsets, and the count of a
// (video, window) is the number of its likes counted so far. The scenario
// takes the order in which the 200s of a (video, window) arrived as that
// order: like number k (from 1) of a (video, window) is counted once a
// count of that (video, window) reaches k. Concurrent requests can be
// answered in a slightly different order than their records were written;
// then two likes swap their latencies, which moves each by at most the
// difference of their 200s. The window of a like is the one of its event
// time, which the API returns with the 200 (api.EventTimeHeader), so likes
// on both sides of a window boundary are matched with the counts of their
// own window.

// likeKey is one video in one window of the smallest size.
type likeKey struct {
	video string
	start int64 // window start, Unix milliseconds
}

// cover is a count of a likeKey seen at some time: a push received by the
// Socket.IO client, or an output record produced by a worker.
type cover struct {
	count uint64
	final bool
	at    int64 // Unix nanoseconds
}

// coverage is the latency of the likes of one key to the covers of that
// key.
type coverage struct {
	latencies []time.Duration // of the covered likes, in ordinal order
	early     int             // likes covered before their 200 arrived (latency 0)
}

// cover matches the likes of one key, acknowledged at acks (Unix
// nanoseconds, in ordinal order), with covers in the order they were seen:
// like i (from 0) gets the latency from its 200 to the first cover whose
// count is at least i+1, or 0 when that cover came first. Likes that no
// cover reaches are left out: len(latencies) is the number covered.
func coverLikes(acks []int64, covers []cover) coverage {
	var cv coverage
	var reach uint64
	for _, c := range covers {
		reach = max(reach, c.count)
		for i := len(cv.latencies); i < len(acks) && uint64(i) < reach; i++ {
			d := time.Duration(c.at - acks[i])
			if d < 0 {
				d = 0
				cv.early++
			}
			cv.latencies = append(cv.latencies, d)
		}
	}
	return cv
}

// likeLog collects, during a latency run, the 200s of the likes and the
// pushes the Socket.IO client receives, and tells when every acknowledged
// like has been pushed. Safe for concurrent use.
type likeLog struct {
	mu     sync.Mutex
	acks   map[likeKey][]int64
	pushes map[likeKey][]cover
	// reach is the largest count pushed per key.
	reach map[likeKey]uint64
}

func newLikeLog() *likeLog {
	return &likeLog{acks: map[likeKey][]int64{}, pushes: map[likeKey][]cover{}, reach: map[likeKey]uint64{}}
}

// ack records the 200 of one like of k, now: the time is read under the
// lock, so the order of the likes of a key is the order of their times.
func (l *likeLog) ack(k likeKey) {
	l.mu.Lock()
	l.acks[k] = append(l.acks[k], time.Now().UnixNano())
	l.mu.Unlock()
}

// push records a push of k received at.
func (l *likeLog) push(k likeKey, count uint64, final bool, at time.Time) {
	l.mu.Lock()
	l.pushes[k] = append(l.pushes[k], cover{count, final, at.UnixNano()})
	l.reach[k] = max(l.reach[k], count)
	l.mu.Unlock()
}

// acked returns how many likes of video were acknowledged, over all
// windows.
func (l *likeLog) acked(video string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, a := range l.acks {
		if k.video == video {
			n += len(a)
		}
	}
	return n
}

// pending returns how many acknowledged likes no push has covered yet, and
// how many likes were pushed beyond those acknowledged (counted but never
// acknowledged: failed requests, or likes counted twice), over the keys
// whose video keep accepts.
func (l *likeLog) pending(keep func(video string) bool) (uncovered, extra int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, a := range l.acks {
		if keep(k.video) {
			uncovered += max(0, int64(len(a))-int64(l.reach[k]))
		}
	}
	for k, r := range l.reach {
		if keep(k.video) {
			extra += max(0, int64(r)-int64(len(l.acks[k])))
		}
	}
	return uncovered, extra
}

// keys returns the keys of acknowledged likes whose video keep accepts,
// sorted.
func (l *likeLog) keys(keep func(video string) bool) []likeKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ks []likeKey
	for k := range l.acks {
		if keep(k.video) {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b likeKey) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.video, b.video))
	})
	return ks
}

// clone returns a copy of the log as it is now.
func (l *likeLog) clone() *likeLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := newLikeLog()
	for k, a := range l.acks {
		c.acks[k] = slices.Clone(a)
	}
	for k, p := range l.pushes {
		c.pushes[k] = slices.Clone(p)
	}
	maps.Copy(c.reach, l.reach)
	return c
}

// pushCount returns how many pushes were logged.
func (l *likeLog) pushCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.pushes {
		n += len(p)
	}
	return n
}

// snapshot returns copies of the acks and pushes of k.
func (l *likeLog) snapshot(k likeKey) (acks []int64, pushes []cover) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks[k]), slices.Clone(l.pushes[k])
}

// quantile returns the q-quantile (0 < q ≤ 1) of sorted by the nearest
// rank: the smallest value with at least q of the values at or below it.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
