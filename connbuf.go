package xdptcp

import (
	"sync"
	"unsafe"
)

// A Conn's read and write buffers come from size-class pools shared by
// every Stack and go back to them when they empty: a Conn holds a buffer
// only while bytes wait in it for the reader or for the loop, so an idle
// Conn keeps none (as the TCP layer's rings), and a connection that
// exchanges small requests, or a writer that the loop keeps up with, takes
// and returns the same few buffers instead of allocating them.
//
// Classes are powers of two from minConnBuf to maxConnBuf (the larger of
// DefaultReadBuffer and DefaultWriteBuffer). sync.Pool bounds what stays
// pooled: what no Conn took back by the second garbage collection is
// freed.
const (
	minConnBuf     = 16 << 10
	connBufClasses = 5 // 16, 32, 64, 128, 256 KiB
	maxConnBuf     = minConnBuf << (connBufClasses - 1)
)

// connBufPools holds, per class, the address of a free buffer's first
// byte (a pointer keeps the whole buffer alive and goes into the pool
// without an allocation, where a slice would not).
var connBufPools [connBufClasses]sync.Pool

// connBufClass returns the class whose size is at least n, or -1 when n
// is above the largest.
func connBufClass(n int) int {
	for k, size := 0, minConnBuf; k < connBufClasses; k, size = k+1, size*2 {
		if n <= size {
			return k
		}
	}
	return -1
}

// getConnBuf returns an empty buffer with room for at least n bytes.
func getConnBuf(n int) []byte {
	k := connBufClass(n)
	if k < 0 {
		return make([]byte, 0, n)
	}
	size := minConnBuf << k
	if p, ok := connBufPools[k].Get().(*byte); ok {
		return unsafe.Slice(p, size)[:0]
	}
	return make([]byte, 0, size)
}

// putConnBuf gives b back to its class (a buffer of no class's size, or
// nil, is left to the garbage collector). b must not be used afterwards.
func putConnBuf(b []byte) {
	if k := connBufClass(cap(b)); k >= 0 && cap(b) == minConnBuf<<k {
		connBufPools[k].Put(unsafe.SliceData(b[:1]))
	}
}

// growConnBuf returns b with room for n more bytes: b itself when it has
// it, else a buffer of the class that holds them, with b's bytes copied
// and b given back to its pool.
func growConnBuf(b []byte, n int) []byte {
	if len(b)+n <= cap(b) {
		return b
	}
	nb := append(getConnBuf(len(b)+n), b...)
	putConnBuf(b)
	return nb
}
