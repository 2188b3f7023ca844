package xsk

// Desc describes one UMEM frame: its offset in the UMEM and the length of the
// packet in it. A Desc is owned by exactly one place at a time: the free
// list, the fill ring, the loop (after Receive or AllocTx), the TX ring, or
// the completion ring.
type Desc struct {
	Addr uint64
	Len  uint32
}
