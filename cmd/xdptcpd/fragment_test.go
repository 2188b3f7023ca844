package main

// What happens to IP fragments addressed to a served port (issue 17): the
// XDP filter passes them to the kernel, which reassembles them and whose
// TCP, with no socket on the port, answers with a RST; xdptcp never sees
// them.

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func csum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestFragmentsGoToTheKernel(t *testing.T) {
	tp := newOpsTopo(t, "--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8080=http", "--admin", "127.0.0.1:9100")
	src, dst := netip.MustParseAddr(cliIP).As4(), netip.MustParseAddr(srvIP).As4()
	const sport = 41999
	// A SYN with 40 bytes of data, so that it can be cut in two fragments.
	seg := make([]byte, 20+40)
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], 8080)
	binary.BigEndian.PutUint32(seg[4:], 12345)
	seg[12] = 5 << 4
	seg[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(seg[14:], 65535)
	var ph uint32
	ph += uint32(binary.BigEndian.Uint16(src[0:])) + uint32(binary.BigEndian.Uint16(src[2:]))
	ph += uint32(binary.BigEndian.Uint16(dst[0:])) + uint32(binary.BigEndian.Uint16(dst[2:]))
	ph += unix.IPPROTO_TCP + uint32(len(seg))
	binary.BigEndian.PutUint16(seg[16:], csum(seg, ph))
	frag := func(off int, part []byte, more bool) []byte {
		ip := make([]byte, 20+len(part))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[4:], 0x4242)
		fo := uint16(off / 8)
		if more {
			fo |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip[8], ip[9] = 64, unix.IPPROTO_TCP
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		binary.BigEndian.PutUint16(ip[10:], csum(ip[:20], 0))
		copy(ip[20:], part)
		return ip
	}
	frames := [][]byte{frag(0, seg[:24], true), frag(24, seg[24:], false)}

	var rst bool
	err := tp.cli.Do(func() error {
		rx, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP)
		if err != nil {
			return err
		}
		defer unix.Close(rx)
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		tx, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(tx)
		to := &unix.SockaddrInet4{Addr: dst}
		buf := make([]byte, 2048)
		for try := 0; try < 5 && !rst; try++ { // the first may wait for ARP
			for _, f := range frames {
				if err := unix.Sendto(tx, f, 0, to); err != nil {
					return err
				}
			}
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && !rst; {
				n, _, err := unix.Recvfrom(rx, buf, 0)
				if err != nil {
					continue
				}
				p := buf[:n]
				if n < 40 || [4]byte(p[12:16]) != dst {
					continue
				}
				tcp := p[int(p[0]&0x0f)*4:]
				if len(tcp) >= 14 && binary.BigEndian.Uint16(tcp[0:]) == 8080 && binary.BigEndian.Uint16(tcp[2:]) == sport && tcp[13]&0x04 != 0 {
					rst = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// xdptcp serves 8080: had it taken the SYN it would have answered
	// SYN-ACK. The RST is the kernel's.
	if !rst {
		t.Fatal("no RST from the kernel for a fragmented SYN to a served port")
	}
	// xdptcp saw none of it: no fragment dropped (or reassembled) on its side.
	fams := scrape(t, tp)
	if f := fams["xdptcp_ip_reasm_fails_total"]; f == nil || f.Metric[0].GetCounter().GetValue() != 0 {
		t.Errorf("xdptcp_ip_reasm_fails_total = %v, want 0 (fragments go to the kernel)", f)
	}
}
