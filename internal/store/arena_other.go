//go:build !linux

package store

// arena hands out blocks of memory; on this system, from the Go heap.
type arena struct{}

// chunk returns an empty block of capacity size.
func (a *arena) chunk(size int) []byte { return make([]byte, 0, size) }

// free releases the blocks.
func (a *arena) free() {}
