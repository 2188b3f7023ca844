package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// TestJumboKernel: on a veth with MTU 9000 on both ends (more than a
// 4096-byte UMEM frame holds), xdptcpd binds its socket with multi-buffer
// AF_XDP, answers an 8,000-byte ping, and advertises MSS 8960; a Linux
// client's 4 MiB echo comes back
// byte-exact, and segments above 4 KiB travelled both ways: the client's
// TCP_INFO shows it sends with MSS 8960 and estimates the MSS it receives
// (rcv_mss, from the largest segments seen) above 4096, and xdptcpd's
// /debug/conns shows the same for its side.
func TestJumboKernel(t *testing.T) {
	tp := newTopoWith(t, func(tp *topo) {
		tp.srv.Exec(t, "ip", "link", "set", tp.veth.A, "mtu", "9000")
		tp.cli.Exec(t, "ip", "link", "set", tp.veth.B, "mtu", "9000")
	})
	if strings.Contains(tp.log.String(), "served_mtu") {
		t.Fatalf("xdptcpd fell back to one frame per packet:\n%s", tp.log.String())
	}
	// An 8,000-byte ping (a 8,042-byte frame each way, three descriptors)
	// is answered: the reply is chained like a segment.
	if out, err := tp.cli.Command("ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8000", srvIP).CombinedOutput(); err != nil {
		t.Errorf("jumbo ping: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tp.cli.Dial(ctx, "tcp4", srvIP+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg := make([]byte, 4<<20)
	rand.Read(msg)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		werr <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
	ti, err := kernelTCPInfo(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("client: snd_mss %d rcv_mss %d", ti.Snd_mss, ti.Rcv_mss)
	// 8960 advertised (MTU-40), less 12 bytes of timestamp option.
	if ti.Snd_mss != 8960-12 {
		t.Errorf("client snd_mss %d, want 8948 (xdptcpd advertises MTU-40 = 8960; timestamps take 12)", ti.Snd_mss)
	}
	if ti.Rcv_mss <= 4096 {
		t.Errorf("client rcv_mss %d: no segment above 4 KiB came from xdptcpd", ti.Rcv_mss)
	}
	resp, err := httpInNS(tp.srv).Get("http://" + tp.admin + "/debug/conns?format=json&info=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var conns []struct {
		Peer string `json:"peer"`
		Info *struct {
			SndMSS int `json:"snd_mss"`
			RcvMSS int `json:"rcv_mss"`
		} `json:"info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dc := range conns {
		if dc.Peer != c.LocalAddr().String() || dc.Info == nil {
			continue
		}
		found = true
		t.Logf("xdptcpd: snd_mss %d rcv_mss %d", dc.Info.SndMSS, dc.Info.RcvMSS)
		if dc.Info.SndMSS < 8948 || dc.Info.RcvMSS <= 4096 {
			t.Errorf("xdptcpd's side: snd_mss %d rcv_mss %d, want 8960 less options and > 4096", dc.Info.SndMSS, dc.Info.RcvMSS)
		}
	}
	if !found {
		t.Errorf("connection from %s not in /debug/conns", c.LocalAddr())
	}
}
