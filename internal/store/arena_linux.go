//go:build linux

package store

import "syscall"

// slabSize is how much memory an arena maps at once.
const slabSize = 32 << 20

// arena hands out blocks of memory mapped outside the Go heap, asking for
// transparent huge pages. A Loader's records are its largest memory, live
// until the restore ends: on the Go heap they would let the garbage
// collector's target (twice the live heap) grow by as much again, and keep
// the pages until the runtime gives them back; huge pages spare the TLB
// misses of reading the records in key order. free returns everything at
// once.
type arena struct {
	slabs [][]byte
	rest  []byte // unused part of the last slab
}

// chunk returns an empty block of capacity size (at most slabSize).
func (a *arena) chunk(size int) []byte {
	if len(a.rest) < size {
		b, err := syscall.Mmap(-1, 0, slabSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return make([]byte, 0, size)
		}
		_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) // a hint: fine without
		a.slabs = append(a.slabs, b)
		a.rest = b
	}
	c := a.rest[:0:size]
	a.rest = a.rest[size:]
	return c
}

// free unmaps every block: none may be used afterwards.
func (a *arena) free() {
	for _, b := range a.slabs {
		_ = syscall.Munmap(b)
	}
	a.slabs, a.rest = nil, nil
}
