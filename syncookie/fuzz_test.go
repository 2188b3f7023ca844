package syncookie

import (
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

func fuzzKey(local, remote uint32, lport, rport uint16) flowtable.Key {
	return flowtable.Key{
		LocalAddr:  flowtable.AddrFrom4([4]byte{byte(local >> 24), byte(local >> 16), byte(local >> 8), byte(local)}),
		RemoteAddr: flowtable.AddrFrom4([4]byte{byte(remote >> 24), byte(remote >> 16), byte(remote >> 8), byte(remote)}),
		LocalPort:  lport,
		RemotePort: rport,
	}
}

// FuzzCheck feeds Check arbitrary (time, tuple, ISN, ACK) values: it must
// not panic, and may accept only a cookie that Make produces for the same
// tuple and ISN with the current or the previous counter, carrying the MSS
// Check returned. The seeds include made cookies, so mutations explore the
// neighbourhood of valid ones.
func FuzzCheck(f *testing.F) {
	j := testJar()
	for i, mss := range mssTable {
		k := testKey(i)
		for _, now := range []clock.Time{0, t0, t0 + clock.Time(Period) - 1, -1} {
			isn := seqnum.Value(0x12345678 + i)
			cookie, _ := j.Make(now, k, isn, mss)
			local := uint32(k.LocalAddr[0])<<24 | uint32(k.LocalAddr[1])<<16 | uint32(k.LocalAddr[2])<<8 | uint32(k.LocalAddr[3])
			remote := uint32(k.RemoteAddr[0])<<24 | uint32(k.RemoteAddr[1])<<16 | uint32(k.RemoteAddr[2])<<8 | uint32(k.RemoteAddr[3])
			f.Add(int64(now), local, remote, k.LocalPort, k.RemotePort, uint32(isn), uint32(cookie))
			f.Add(int64(now)+int64(Period), local, remote, k.LocalPort, k.RemotePort, uint32(isn), uint32(cookie))
		}
	}
	f.Add(int64(0), uint32(0), uint32(0), uint16(0), uint16(0), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, now int64, local, remote uint32, lport, rport uint16, isn, cookie uint32) {
		k := fuzzKey(local, remote, lport, rport)
		mss, ok := j.Check(clock.Time(now), k, seqnum.Value(isn), seqnum.Value(cookie))
		if !ok {
			if mss != 0 {
				t.Fatalf("rejected with mss %d", mss)
			}
			return
		}
		for _, made := range []clock.Time{clock.Time(now), clock.Time(now) - clock.Time(Period)} {
			if c, used := j.Make(made, k, seqnum.Value(isn), mss); c == seqnum.Value(cookie) && used == mss {
				return
			}
		}
		t.Fatalf("Check accepted %#x (mss %d) for %v isn %#x at %d, which Make did not produce", cookie, mss, k, isn, now)
	})
}

// FuzzDecodeTS: DecodeTS never panics, and encoding what it decoded gives
// back the same TSecr (the options are exactly the low 6 bits).
func FuzzDecodeTS(f *testing.F) {
	for _, v := range tsvals {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, tsecr uint32) {
		o, ok := DecodeTS(tsecr)
		if !ok {
			return
		}
		if o.HasWScale && o.WScale > maxWScale {
			t.Fatalf("DecodeTS(%#x) = shift %d", tsecr, o.WScale)
		}
		if got := EncodeTS(tsecr, o); got != tsecr {
			t.Fatalf("EncodeTS(%#x, DecodeTS) = %#x", tsecr, got)
		}
	})
}

// FuzzEncodeTS: for any clock and options, the result is at most 63 ticks
// behind the clock and decodes to the options (shift capped at 14).
func FuzzEncodeTS(f *testing.F) {
	f.Add(uint32(0), uint8(0), true, false, false)
	f.Add(uint32(1000), uint8(7), true, true, true)
	f.Add(uint32(0xffffffff), uint8(200), true, true, false)
	f.Fuzz(func(t *testing.T, tsval uint32, ws uint8, hasWS, sack, ecn bool) {
		o := Options{WScale: ws, HasWScale: hasWS, SACK: sack, ECN: ecn}
		got := EncodeTS(tsval, o)
		if tsval-got >= 1<<TSBits {
			t.Fatalf("EncodeTS(%#x, %+v) = %#x", tsval, o, got)
		}
		want := o
		if !hasWS {
			want.WScale = 0
		} else {
			want.WScale = min(ws, maxWScale)
		}
		if d, ok := DecodeTS(got); !ok || d != want {
			t.Fatalf("DecodeTS(EncodeTS(%#x, %+v)) = %+v, %v", tsval, o, d, ok)
		}
	})
}
