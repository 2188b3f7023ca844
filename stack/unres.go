package stack

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/xsk"
)

// Frames waiting for their next hop, as Linux queues packets on an
// INCOMPLETE neighbour entry (neigh_resolve_output → __neigh_event_send:
// the entry's arp_queue, at most unres_qlen packets, the oldest dropped
// first when full; sent by neigh_update when the reply arrives; freed
// when the entry fails after mcast_solicit requests or is destroyed).
//
// A held packet keeps its built TX frame(s): the frames of all held
// packets come from one pool of Config.UnresQlenTotal slots, linked per
// neighbour (neigh.qHead/qTail), so holding allocates nothing and a peer
// cannot make the loop keep more than UnresQlenTotal UMEM frames.

// unresSolicit is how many requests an unresolved entry with held frames
// gets, ARPRetransTime apart, before it fails and its frames are dropped
// (Linux mcast_solicit, 3; RFC 4861 MAX_MULTICAST_SOLICIT, 3).
const unresSolicit = 3

// pendSlot is one held TX frame; next links a neighbour's queue (slot
// index + 1; 0: end).
type pendSlot struct {
	d    xsk.Desc
	next int32
}

// pendPool is the bounded pool of held frames.
type pendPool struct {
	slots []pendSlot
	free  []int32 // free slot indices
	pkts  int     // packets held in all queues
}

func newPendPool(size int) pendPool {
	p := pendPool{slots: make([]pendSlot, size), free: make([]int32, 0, size)}
	for i := size - 1; i >= 0; i-- {
		p.free = append(p.free, int32(i))
	}
	return p
}

// hold puts the built packet ds (one frame, or a multi-buffer chain,
// lengths and options set) on n's queue. When n already holds
// unres_qlen (Config.TCP.UnresQlen) packets the oldest is dropped (Linux neigh_queue drops
// the head); when the pool has no room for ds, ds is dropped. Drops are
// counted arp_unresolved and free their frames.
func (e *Engine) hold(n *neigh, ds []xsk.Desc) {
	// A loop: a reload may have lowered unres_qlen below the queue.
	for n.qPkts > 0 && int(n.qPkts) >= e.cfg.TCP.UnresQlen {
		e.dropHead(n)
	}
	if len(ds) > len(e.pend.free) || e.cfg.TCP.UnresQlen <= 0 {
		for _, d := range ds {
			e.port.FreeTx(d)
		}
		e.stats.drop(DropARPUnresolved)
		return
	}
	if n.qPkts == 0 {
		n.qSince = e.now
		if e.pend.pkts == 0 || e.now.Add(ARPRetransTime).Before(e.unresNext) {
			e.unresNext = e.now.Add(ARPRetransTime)
		}
	}
	for _, d := range ds {
		i := e.pend.free[len(e.pend.free)-1]
		e.pend.free = e.pend.free[:len(e.pend.free)-1]
		e.pend.slots[i] = pendSlot{d: d}
		if n.qTail == 0 {
			n.qHead = i + 1
		} else {
			e.pend.slots[n.qTail-1].next = i + 1
		}
		n.qTail = i + 1
	}
	n.qPkts++
	e.pend.pkts++
}

// popPacket takes n's oldest held packet off its queue, appending its
// descriptors in order to buf[:0]; empty when n holds none.
func (e *Engine) popPacket(n *neigh, buf []xsk.Desc) []xsk.Desc {
	buf = buf[:0]
	for n.qHead != 0 {
		i := n.qHead - 1
		s := &e.pend.slots[i]
		buf = append(buf, s.d)
		n.qHead = s.next
		e.pend.free = append(e.pend.free, i)
		if s.d.Options&xsk.DescContd == 0 {
			break
		}
	}
	if n.qHead == 0 {
		n.qTail = 0
	}
	if len(buf) > 0 {
		n.qPkts--
		e.pend.pkts--
	}
	return buf
}

// dropHead frees n's oldest held packet, counted arp_unresolved.
func (e *Engine) dropHead(n *neigh) {
	var one [xsk.MaxDescsPerPacket]xsk.Desc
	ds := e.popPacket(n, one[:0])
	if len(ds) == 0 {
		return
	}
	for _, d := range ds {
		e.port.FreeTx(d)
	}
	e.stats.drop(DropARPUnresolved)
}

// dropHeld frees every packet n holds (the entry failed or is evicted).
func (e *Engine) dropHeld(n *neigh) {
	for n.qPkts > 0 {
		e.dropHead(n)
	}
}

// sendHeld sends n's held packets to mac, oldest first (n was just
// confirmed: Linux neigh_update sends the arp_queue).
func (e *Engine) sendHeld(n *neigh, mac [6]byte) {
	var one [xsk.MaxDescsPerPacket]xsk.Desc
	for n.qPkts > 0 {
		ds := e.popPacket(n, one[:0])
		copy(e.port.FrameCap(ds[0])[:6], mac[:])
		if len(ds) == 1 && ds[0].Options&xsk.DescContd == 0 {
			e.tx = append(e.tx, ds[0])
			if len(e.tx) == cap(e.tx) {
				e.flushTx()
			}
			continue
		}
		e.queueChain(ds)
	}
}

// expireUnres, run by Poll while frames are held and the earliest
// deadline passed, asks again for unresolved entries with held frames
// every ARPRetransTime and fails them (their frames dropped) after
// unresSolicit requests' worth of time, like Linux's neigh_timer_handler.
func (e *Engine) expireUnres(now clock.Time) {
	var next clock.Time
	for i := range e.arp.ents {
		n := &e.arp.ents[i]
		if !n.used || n.qPkts == 0 {
			continue
		}
		if now.Sub(n.qSince) >= unresSolicit*ARPRetransTime {
			e.dropHeld(n)
			continue
		}
		e.solicit(n, true)
		dl := min(n.qSince.Add(unresSolicit*ARPRetransTime), n.lastReq.Add(ARPRetransTime))
		if !n.reqSent || dl.Before(now) {
			dl = now.Add(ARPRetransTime)
		}
		if next == 0 || dl.Before(next) {
			next = dl
		}
	}
	e.unresNext = next
}

// freeHeld gives back every held frame without counting (the loop stops).
func (e *Engine) freeHeld() {
	for i := range e.arp.ents {
		n := &e.arp.ents[i]
		var one [xsk.MaxDescsPerPacket]xsk.Desc
		for n.used && n.qPkts > 0 {
			for _, d := range e.popPacket(n, one[:0]) {
				e.port.FreeTx(d)
			}
		}
	}
}
