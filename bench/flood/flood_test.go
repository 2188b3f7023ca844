package flood

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
	"github.com/xdptcp/xdptcp/stack/wire"
)

func TestConfigRefusesSourcesOutsideTheRange(t *testing.T) {
	target := netip.MustParseAddrPort("198.18.0.1:8080")
	for _, p := range []string{"198.18.0.0/16", "198.18.0.0/24", "10.0.0.0/8", "0.0.0.0/0", "198.19.128.0/17"} {
		c := Config{Target: target, Sources: netip.MustParsePrefix(p), Rate: 1, Duration: time.Second}
		if _, err := Run(context.Background(), c); !errors.Is(err, ErrSources) {
			t.Errorf("sources %s: %v", p, err)
		}
	}
	c := Config{Target: netip.MustParseAddrPort("198.18.200.1:80"), Rate: 1, Duration: time.Second}
	if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
		t.Errorf("target inside the spoofed range: %v", err)
	}
	c = Config{Target: target, Rate: 0, Duration: time.Second}
	if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
		t.Errorf("zero rate: %v", err)
	}
}

func TestBuilderWritesValidSYNs(t *testing.T) {
	for _, opts := range []bool{false, true} {
		c := Config{Target: netip.MustParseAddrPort("198.18.0.1:8080"), Sources: netip.MustParsePrefix("198.18.200.0/24"),
			Rate: 1, Duration: time.Second, Options: opts}
		if err := c.validate(); err != nil {
			t.Fatal(err)
		}
		b := NewBuilder(c)
		p := make([]byte, b.PacketLen())
		seen := map[[4]byte]bool{}
		for i := 0; i < 1000; i++ {
			for j := range p {
				p[j] = 0xa5 // a reused buffer holds an older packet
			}
			src := b.Build(p)
			seen[src] = true
			if !c.Sources.Contains(netip.AddrFrom4(src)) || src[3] == 0 || src[3] == 255 {
				t.Fatalf("source %v outside %s", src, c.Sources)
			}
			ip := wire.IPv4(p)
			if ip.Validate() != wire.IPv4OK {
				t.Fatalf("ipv4: %v", ip.Validate())
			}
			if ip.Src() != src || ip.Dst() != [4]byte{198, 18, 0, 1} || ip.Protocol() != wire.ProtoTCP {
				t.Fatalf("ipv4 addresses %v %v", ip.Src(), ip.Dst())
			}
			tcp := wire.TCP(ip.Payload())
			if !tcp.IsValid() || !tcp.ChecksumOK(src, ip.Dst()) || tcp.Flags() != wire.FlagSYN || tcp.DstPort() != 8080 || tcp.SrcPort() < 1024 {
				t.Fatalf("tcp segment %x", []byte(tcp))
			}
			var o wire.TCPOptions
			if st := wire.ParseTCPOptions(tcp.Options(), &o); st != wire.OptOK || o.HasMSS != opts || o.HasTimestamp != opts {
				t.Fatalf("options %v %+v", st, o)
			}
		}
		if len(seen) < 200 {
			t.Errorf("only %d distinct sources", len(seen))
		}
	}
}

func TestBuildNoAllocs(t *testing.T) {
	c := Config{Target: netip.MustParseAddrPort("198.18.0.1:80"), Rate: 1, Duration: time.Second, Options: true}
	c.validate()
	b := NewBuilder(c)
	p := make([]byte, b.PacketLen())
	if n := testing.AllocsPerRun(100, func() { b.Build(p) }); n != 0 {
		t.Errorf("%v allocations per SYN", n)
	}
}

// snmp reads the "Ip:" or "Tcp:" counters of /proc/net/snmp in ns.
func snmp(t *testing.T, ns *testnet.NS, proto, name string) int64 {
	t.Helper()
	out := ns.Exec(t, "cat", "/proc/net/snmp")
	sc := bufio.NewScanner(strings.NewReader(out))
	var keys []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if keys == nil {
			keys = f
			continue
		}
		for i, k := range keys {
			if k == name && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	t.Fatalf("no %s:%s in /proc/net/snmp", proto, name)
	return 0
}

// TestFloodReachesTargetAndSynAcksDieInTheClient floods a Linux listener in
// one namespace from another: the SYNs arrive (the target answers them with
// SYN-ACKs) and the SYN-ACKs, routed back to the flooding namespace, end
// there as packets for an address it does not have.
func TestFloodReachesTargetAndSynAcksDieInTheClient(t *testing.T) {
	testnet.RequireRoot(t)
	srv, cli := testnet.NewNS(t, "fls"), testnet.NewNS(t, "flc")
	testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.3.1/24", BAddr: "198.18.3.2/24", TxOffOnB: true})
	testnet.Cmd(t, "ip", "-n", srv.Name, "route", "add", Allowed.String(), "via", "198.18.3.2")
	testnet.Cmd(t, "ip", "-n", cli.Name, "route", "add", "blackhole", Allowed.String())
	srv.Exec(t, "sysctl", "-qw", "net.ipv4.tcp_syncookies=1")
	l, err := srv.Listen("tcp4", "198.18.3.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	synAcksBefore := snmp(t, srv, "Tcp", "OutSegs")
	st, err := Run(context.Background(), Config{Target: netip.MustParseAddrPort("198.18.3.1:8080"),
		Rate: 20000, Duration: 300 * time.Millisecond, Netns: cli.Name, Options: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent < 1000 || st.Sent > 20000*2 {
		t.Fatalf("sent %d in %v", st.Sent, st.Elapsed)
	}
	// The kernel answers within milliseconds; wait (bounded) for the counters.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := snmp(t, srv, "Tcp", "OutSegs") - synAcksBefore
		dropped := snmp(t, cli, "Ip", "InAddrErrors") + snmp(t, cli, "Ip", "InDiscards")
		if out >= st.Sent/2 && dropped >= st.Sent/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %d SYNs; target sent %d segments; client dropped %d", st.Sent, out, dropped)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
