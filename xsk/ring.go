package xsk

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is the part every AF_XDP ring shares: a shared-memory region with a
// producer index, a consumer index, a flags word and a power-of-two array of
// entries. Indices are free-running uint32 counters; entry i lives at
// i&mask.
//
// Memory ordering: the side that writes an index publishes it with a
// release store after writing the entries (here: atomic.Store, which in Go
// is sequentially consistent and so at least release); the other side reads
// it with an acquire load (atomic.Load) before reading the entries. This is
// the protocol of the kernel's net/xdp/xsk_queue.h ("smp_load_acquire" /
// "smp_store_release" pairs).
//
// Each ring is used by one goroutine (the loop); cachedProd/cachedCons are
// that goroutine's private copies so that most operations read no shared
// cache line at all.
type ring struct {
	mem      []byte  // the mmap of the whole ring, unmapped by unmap
	producer *uint32 // in mem
	consumer *uint32 // in mem
	flags    *uint32 // in mem (XDP_RING_NEED_WAKEUP)
	mask     uint32  // size-1
	size     uint32  // number of entries, a power of two

	// cachedProd and cachedCons: our last view of the two indices. On a
	// ring we produce into, cachedProd is authoritative (we own it) and
	// cachedCons is refreshed from the kernel when we run out of room; on a
	// ring we consume from, the reverse.
	cachedProd uint32
	cachedCons uint32
}

// mapRing mmaps a ring of size entries of entSize bytes at pgoff.
func mapRing(fd int, off unix.XDPRingOffset, size uint32, entSize uintptr, pgoff int64) (ring, error) {
	length := int(off.Desc) + int(size)*int(entSize)
	mem, err := unix.Mmap(fd, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return ring{}, fmt.Errorf("mmap ring (pgoff %#x, %d bytes): %w", pgoff, length, err)
	}
	r := ring{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:     size - 1,
		size:     size,
	}
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r, nil
}

// unmap releases the ring's mapping; safe to call twice.
func (r *ring) unmap() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	*r = ring{}
	return err
}

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// occupancy reads both shared indices: how many entries the ring holds now
// (produced and not yet consumed). Any goroutine may call it while mapped.
func (r *ring) occupancy() uint32 {
	return atomic.LoadUint32(r.producer) - atomic.LoadUint32(r.consumer)
}

// prodReserve, for a ring we produce into: how many entries (at most n) can
// be written starting at cachedProd. It refreshes the consumer index (acquire)
// only when the cached view has fewer than n free.
func (r *ring) prodReserve(n uint32) uint32 {
	free := r.size - (r.cachedProd - r.cachedCons)
	if free < n {
		r.cachedCons = atomic.LoadUint32(r.consumer)
		free = r.size - (r.cachedProd - r.cachedCons)
	}
	if free < n {
		n = free
	}
	return n
}

// prodSubmit publishes n written entries with one release store.
func (r *ring) prodSubmit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// consPeek, for a ring we consume from: how many entries (at most n) are
// readable starting at cachedCons. It refreshes the producer index (acquire)
// when the cached view has fewer than n.
func (r *ring) consPeek(n uint32) uint32 {
	avail := r.cachedProd - r.cachedCons
	if avail < n {
		r.cachedProd = atomic.LoadUint32(r.producer)
		avail = r.cachedProd - r.cachedCons
	}
	if avail < n {
		n = avail
	}
	return n
}

// consRelease hands n read entries back with one release store.
func (r *ring) consRelease(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// loadConsumer is an acquire load of the consumer index.
func (r *ring) loadConsumer() uint32 { return atomic.LoadUint32(r.consumer) }

// loadProducer is an acquire load of the producer index.
func (r *ring) loadProducer() uint32 { return atomic.LoadUint32(r.producer) }
