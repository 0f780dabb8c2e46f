package socketio

import "sync"

// outbox is the bounded queue of encoded Engine.IO packets waiting to be
// written to one client. Packets are read-only and may be shared: a broadcast
// is encoded once and the same slice is pushed to every recipient.
//
// One consumer at a time (the WebSocket writer, or the pending poll) takes
// everything queued at once, which batches writes under load.
type outbox struct {
	mu      sync.Mutex
	packets [][]byte
	limit   int
	sealed  bool // no more pushes: what is queued is the last to send
	// wake holds a token when there is something to take, or the outbox
	// was sealed.
	wake chan struct{}
}

// pushResult tells what push did.
type pushResult int

const (
	pushed pushResult = iota
	queueFull
	queueSealed
)

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, wake: make(chan struct{}, 1)}
}

// push queues p unless the queue is full or sealed. It never blocks.
func (o *outbox) push(p []byte) pushResult {
	o.mu.Lock()
	switch {
	case o.sealed:
		o.mu.Unlock()
		return queueSealed
	case len(o.packets) >= o.limit:
		o.mu.Unlock()
		return queueFull
	}
	o.packets = append(o.packets, p)
	o.mu.Unlock()
	o.signal()
	return pushed
}

// seal refuses further pushes; the consumer sends what is queued, then
// closes the transport.
func (o *outbox) seal() {
	o.mu.Lock()
	o.sealed = true
	o.mu.Unlock()
	o.signal()
}

// take returns everything queued, and whether the outbox is sealed (this is
// then the last batch). spare, emptied, becomes the new queue, so that two
// slices alternate without allocation.
func (o *outbox) take(spare [][]byte) (batch [][]byte, last bool) {
	clear(spare)
	o.mu.Lock()
	batch, o.packets = o.packets, spare[:0]
	last = o.sealed
	o.mu.Unlock()
	return batch, last
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
