package impair

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DirStats counts one direction's frames.
type DirStats struct {
	InFrames    uint64 `json:"in_frames"`    // frames read from the ingress leg
	InBytes     uint64 `json:"in_bytes"`     // their bytes
	OutFrames   uint64 `json:"out_frames"`   // frames the egress socket took (TxErrors excluded)
	OutBytes    uint64 `json:"out_bytes"`    // bytes of the frames handed to the egress socket
	Passthrough uint64 `json:"passthrough"`  // frames not Impairable forwarded untouched
	Lost        uint64 `json:"lost"`         // dropped by the loss impairment
	Policed     uint64 `json:"policed"`      // dropped by the policer (no tokens)
	Duplicated  uint64 `json:"duplicated"`   // extra copies queued
	Corrupted   uint64 `json:"corrupted"`    // frames with one payload bit flipped
	CEMarked    uint64 `json:"ce_marked"`    // ECN-capable frames marked Congestion Experienced
	Reordered   uint64 `json:"reordered"`    // frames held back by the reorder impairment
	Delayed     uint64 `json:"delayed"`      // frames queued with a non-zero delay
	Overflow    uint64 `json:"overflow"`     // dropped because the queue was full
	OutOfOrder  uint64 `json:"out_of_order"` // frames sent after a frame that arrived later
	Oversize    uint64 `json:"oversize"`     // dropped: longer than the frame buffer
	Runt        uint64 `json:"runt"`         // dropped: shorter than an Ethernet header
	TxErrors    uint64 `json:"tx_errors"`    // frames the egress socket refused
	RxDrops     uint64 `json:"rx_drops"`     // frames the kernel dropped at the ingress socket (PACKET_STATISTICS)
	Queued      uint64 `json:"queued"`       // frames waiting at the time of the snapshot
	MaxLateUS   uint64 `json:"max_late_us"`  // longest a frame left after its due time (without a rate limit), in microseconds
}

// Stats is a snapshot of a bridge's counters.
type Stats struct {
	AB      DirStats      `json:"ab"` // A to B (client to server)
	BA      DirStats      `json:"ba"` // B to A (server to client)
	Elapsed time.Duration `json:"elapsed_ns"`
}

// String formats the counters of one direction on one line.
func (s DirStats) String() string {
	return fmt.Sprintf("in=%d out=%d lost=%d policed=%d dup=%d corrupt=%d ce=%d reorder=%d delayed=%d overflow=%d ooo=%d pass=%d oversize=%d runt=%d txerr=%d rxdrop=%d queued=%d maxlate=%dus",
		s.InFrames, s.OutFrames, s.Lost, s.Policed, s.Duplicated, s.Corrupted, s.CEMarked, s.Reordered, s.Delayed,
		s.Overflow, s.OutOfOrder, s.Passthrough, s.Oversize, s.Runt, s.TxErrors, s.RxDrops, s.Queued, s.MaxLateUS)
}

// String formats the snapshot as one line of text.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "elapsed=%s a->b: %s | b->a: %s", s.Elapsed.Round(time.Millisecond), s.AB, s.BA)
	return b.String()
}

// JSON returns the snapshot as one line of JSON.
func (s Stats) JSON() string {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen: only integers
		return "{}"
	}
	return string(b)
}

// ParseStatsJSON reads a line written by Stats.JSON.
func ParseStatsJSON(line string) (Stats, error) {
	var s Stats
	err := json.Unmarshal([]byte(strings.TrimSpace(line)), &s)
	return s, err
}
