package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// The ECMP cluster on one machine (issue 18): a router namespace spreads
// flows for the service address 198.18.100.1 over hosts by the L4 hash
// (fib_multipath_hash_policy=1) through a nexthop group; every host runs
// xdptcpd on that address, and the hosts and the router share one bridge
// (the L2 segment forwarded frames cross). A client namespace behind the
// router runs keep-alive connections making a request every 100 ms and a
// stream of new connections. Events: add a host to the group; drain a host
// (xdptcpd drain) and remove it from the group; kill -9 a host and remove
// it. Per event: client-visible resets, failed requests, failed
// handshakes.
//
// The same events run over IPv6 (clusterVIP6, an IPv6 nexthop group,
// net.ipv6.fib_multipath_hash_policy=1, peers resolved with NDP); the
// hosts serve both families.
//
// The short form (in make test): hash-threshold group, cluster settings,
// add and drain, 30 keep-alive connections, over IPv4 and over IPv6: zero
// of each is required. XDPTCP_CLUSTER_LONG=1: resilient and
// hash-threshold groups, the baseline without cluster settings, the kill
// event, 300 connections, each over both families; zero is required for
// add and drain with cluster settings, the kill may break only the killed
// host's connections, and the baseline is reported.

const (
	clusterVIP  = "198.18.100.1"
	clusterGW   = "198.18.100.254"
	clusterCli  = "198.18.200.2"
	clusterRtr  = "198.18.200.1"
	clusterPort = "8080"
	groupID     = "100"

	// The same topology over IPv6 (2001:2::/48): the hosts serve both
	// families, the router forwards IPv6 by the L4 hash
	// (net.ipv6.fib_multipath_hash_policy=1), the clients dial clusterVIP6.
	clusterVIP6 = "2001:2:0:100::1"
	clusterGW6  = "2001:2:0:100::fe"
	clusterCli6 = "2001:2:0:200::2"
	clusterRtr6 = "2001:2:0:200::1"
)

func hostAddr(id int) string  { return fmt.Sprintf("198.18.100.%d", 10+id) }
func hostAddr6(id int) string { return fmt.Sprintf("2001:2:0:100::%d", 10+id) }

type clusterHost struct {
	id     int
	ns     *testnet.NS
	veth   *testnet.Veth
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan error
}

type clusterNet struct {
	t         *testing.T
	rtr, cli  *testnet.NS
	hosts     map[int]*clusterHost
	resilient bool
	cluster   bool
	v6        bool  // clients, router group and peers over IPv6
	all       []int // every host id that will ever be (the peers lists)
	keyFile   string
}

func newClusterNet(t *testing.T, resilient, cluster, v6 bool, all []int) *clusterNet {
	t.Helper()
	testnet.RequireRoot(t)
	n := &clusterNet{t: t, rtr: testnet.NewNS(t, "xr"), cli: testnet.NewNS(t, "xk"), hosts: map[int]*clusterHost{},
		resilient: resilient, cluster: cluster, v6: v6, all: all}
	cv := testnet.NewVeth(t, testnet.VethOptions{ANS: n.cli, BNS: n.rtr, AAddr: clusterCli + "/24", BAddr: clusterRtr + "/24", TxOffOnA: true, TxOffOnB: true})
	n.cli.Exec(t, "ip", "route", "add", "default", "via", clusterRtr)
	n.rtr.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1")
	// br_netfilter (on here) trims bridged IPv4 frames to their IP
	// length, which removes the forwarding trailer (README: Running a
	// cluster).
	n.rtr.Exec(t, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")
	n.rtr.Exec(t, "ip", "link", "add", "br0", "type", "bridge")
	n.rtr.Exec(t, "ip", "addr", "add", clusterGW+"/24", "dev", "br0")
	n.rtr.Exec(t, "ip", "link", "set", "br0", "up")
	if v6 {
		// nodad: the addresses are usable at once.
		n.cli.Exec(t, "ip", "-6", "addr", "add", clusterCli6+"/64", "dev", cv.A, "nodad")
		n.rtr.Exec(t, "ip", "-6", "addr", "add", clusterRtr6+"/64", "dev", cv.B, "nodad")
		n.cli.Exec(t, "ip", "-6", "route", "add", "default", "via", clusterRtr6)
		n.rtr.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.fib_multipath_hash_policy=1",
			"net.bridge.bridge-nf-call-ip6tables=0")
		n.rtr.Exec(t, "ip", "-6", "addr", "add", clusterGW6+"/64", "dev", "br0", "nodad")
	}
	dir := t.TempDir()
	n.keyFile = filepath.Join(dir, "cookie.keys")
	if err := os.WriteFile(n.keyFile, []byte("# test key\n"+strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// startHost creates host id's namespace on the bridge and starts xdptcpd
// there; the host is not in the router's group yet.
func (n *clusterNet) startHost(id int) *clusterHost {
	t := n.t
	t.Helper()
	h := &clusterHost{id: id, ns: testnet.NewNS(t, "xh")}
	h.veth = testnet.NewVeth(t, testnet.VethOptions{ANS: h.ns, BNS: n.rtr, AAddr: hostAddr(id) + "/24", TxOffOnB: true})
	n.rtr.Exec(t, "ip", "link", "set", h.veth.B, "master", "br0")
	args := []string{"netns", "exec", h.ns.Name, daemonBinary(t),
		"--iface", h.veth.A, "--addr", clusterVIP + "/24", "--gateway", clusterGW,
		"--listen", clusterPort + "=http", "--admin", "127.0.0.1:9100", "--grace", "20s"}
	peerAddr := hostAddr
	if n.v6 {
		// The host's kernel owns its link address (the router's next hop,
		// and the address its peers resolve with NDP); xdptcpd serves the
		// service address of both families.
		h.ns.Exec(t, "ip", "-6", "addr", "add", hostAddr6(id)+"/64", "dev", h.veth.A, "nodad")
		n.rtr.Exec(t, "ip", "-6", "nexthop", "add", "id", fmt.Sprint(id), "via", hostAddr6(id), "dev", "br0")
		args = append(args, "--addr", clusterVIP6+"/64", "--gateway", clusterGW6)
		peerAddr = hostAddr6
	} else {
		n.rtr.Exec(t, "ip", "nexthop", "add", "id", fmt.Sprint(id), "via", hostAddr(id), "dev", "br0")
	}
	if n.cluster {
		args = append(args, "--cluster-id", fmt.Sprint(id), "--cookie-key-file", n.keyFile)
		for _, p := range n.all {
			if p != id {
				args = append(args, "--cluster-peer", fmt.Sprintf("%d=%s", p, peerAddr(p)))
			}
		}
	}
	h.cmd = exec.Command("ip", args...)
	h.log = &syncBuffer{}
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.exited = make(chan error, 1)
	go func() { h.exited <- h.cmd.Wait() }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		err := <-h.exited
		h.exited <- err
		if t.Failed() {
			t.Logf("xdptcpd host %d output:\n%s", id, h.log.String())
		}
	})
	hc := httpInNS(h.ns)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get("http://127.0.0.1:9100/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %d not healthy after 15 s\n%s", id, h.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.hosts[id] = h
	return h
}

// setGroup points the service route at hosts ids.
func (n *clusterNet) setGroup(ids []int, first bool) {
	n.t.Helper()
	var g []string
	for _, id := range ids {
		g = append(g, fmt.Sprint(id))
	}
	verb := "replace"
	if first {
		verb = "add"
	}
	args := []string{"ip", "nexthop", verb, "id", groupID, "group", strings.Join(g, "/")}
	if n.resilient {
		args = append(args, "type", "resilient", "buckets", "32", "idle_timer", "1", "unbalanced_timer", "2")
	}
	n.rtr.Exec(n.t, args[0], args[1:]...)
	if first {
		if n.v6 {
			n.rtr.Exec(n.t, "ip", "-6", "route", "add", clusterVIP6+"/128", "nhid", groupID)
		} else {
			n.rtr.Exec(n.t, "ip", "route", "add", clusterVIP+"/32", "nhid", groupID)
		}
	}
}

// warmNeighbours has the router resolve every host's link address (its
// next hops) and every host's xdptcp learn the router's MAC, before the
// service route exists. xdptcp drops a segment whose next hop is not
// resolved yet (arp_unresolved; Linux queues it instead), so a host's
// first SYN-ACK would be lost and the client retransmit its SYN a second
// later: a host added with an empty cache would make the add event count
// failed handshakes that have nothing to do with the cluster. The router
// pings the service address while it is still on-link on the bridge: its
// ARP request or neighbour solicitation reaches every host, and xdptcp
// learns the sender's MAC from a request for its address (RFC 826 merge,
// RFC 4861 §7.2.3).
func (n *clusterNet) warmNeighbours() {
	n.t.Helper()
	ping := func(addr string) error {
		return n.rtr.Command("ping", "-c", "1", "-W", "2", addr).Run()
	}
	for _, id := range n.all {
		if n.hosts[id] == nil {
			continue
		}
		addr := hostAddr(id)
		if n.v6 {
			addr = hostAddr6(id)
		}
		if err := ping(addr); err != nil {
			n.t.Fatalf("router cannot reach host %d at %s: %v", id, addr, err)
		}
	}
	vip := clusterVIP
	if n.v6 {
		vip = clusterVIP6
	}
	ping(vip) // one host answers; every host saw the request
}

// waitServed returns once a client request through the router is
// answered: the router and the hosts have resolved their neighbours, so
// the warm-up measures the cluster, not the start of the topology.
func (n *clusterNet) waitServed() {
	n.t.Helper()
	l := &load{n: n}
	start := time.Now()
	for {
		c, err := l.dial()
		if err == nil {
			_, err = clusterGet(c, bufio.NewReader(c), true)
			c.Close()
			if err == nil {
				n.t.Logf("first request answered %v after the route was set", time.Since(start).Round(time.Millisecond))
				return
			}
		}
		if time.Since(start) > 15*time.Second {
			n.t.Fatalf("no request answered 15 s after the route was set: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// open returns how many connections host h has, in any state but
// TIME-WAIT (the ones a kill breaks).
func (h *clusterHost) open(t *testing.T) int {
	resp, err := httpInNS(h.ns).Get("http://127.0.0.1:9100/debug/conns?format=json&limit=100000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Count(string(b), `"state"`) - strings.Count(string(b), `"state":"TIME-WAIT"`)
}

// forwarded returns host h's cluster counters: segments it forwarded and
// forwarded frames it received.
func (h *clusterHost) forwarded(t *testing.T) (out, in float64) {
	m := scrapeMetrics(t, h.ns, "127.0.0.1:9100")
	v := func(name string) float64 {
		if f := m[name]; f != nil && len(f.Metric) > 0 {
			return f.Metric[0].GetCounter().GetValue()
		}
		return 0
	}
	return v("xdptcp_cluster_forwarded_owner_total") + v("xdptcp_cluster_forwarded_search_total") + v("xdptcp_cluster_forwarded_new_total"),
		v("xdptcp_cluster_received_forwarded_total")
}

// tally counts what clients saw.
type tally struct {
	requests, closes, resets, failedReqs, failedHandshakes atomic.Int64
}

type tallySnap struct{ requests, closes, resets, failedReqs, failedHandshakes int64 }

func (c *tally) snap() tallySnap {
	return tallySnap{c.requests.Load(), c.closes.Load(), c.resets.Load(), c.failedReqs.Load(), c.failedHandshakes.Load()}
}

func (a tallySnap) sub(b tallySnap) tallySnap {
	return tallySnap{a.requests - b.requests, a.closes - b.closes, a.resets - b.resets, a.failedReqs - b.failedReqs, a.failedHandshakes - b.failedHandshakes}
}

func (a tallySnap) broken() int64 { return a.resets + a.failedReqs + a.failedHandshakes }

func (a tallySnap) String() string {
	return fmt.Sprintf("requests %d, server closes %d, resets %d, failed requests %d, failed handshakes %d",
		a.requests, a.closes, a.resets, a.failedReqs, a.failedHandshakes)
}

// load runs keepalive connections (a request every 100 ms each) and a new
// connection every 50 ms until stop.
type load struct {
	n    *clusterNet
	c    tally
	stop chan struct{}
	wg   sync.WaitGroup
	logf func(string, ...any)
	mu   sync.Mutex
	errs []string
}

func (l *load) note(kind string, err error) {
	l.mu.Lock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), kind, err))
	}
	l.mu.Unlock()
}

func (l *load) fail(err error, handshake bool) {
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED):
		l.c.resets.Add(1)
		l.note("reset", err)
	case handshake:
		l.c.failedHandshakes.Add(1)
		l.note("handshake", err)
	default:
		l.c.failedReqs.Add(1)
		l.note("request", err)
	}
}

func (l *load) stopped(d time.Duration) bool {
	select {
	case <-l.stop:
		return true
	case <-time.After(d):
		return false
	}
}

func (l *load) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if l.n.v6 {
		return l.n.cli.Dial(ctx, "tcp6", net.JoinHostPort(clusterVIP6, clusterPort))
	}
	return l.n.cli.Dial(ctx, "tcp", clusterVIP+":"+clusterPort)
}

// clusterGet makes one GET on c; it reports whether the server closes.
func clusterGet(c net.Conn, br *bufio.Reader, close bool) (bool, error) {
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	if close {
		req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, err
	}
	if resp.StatusCode != 200 || string(body) != "Hello, World!" {
		return false, fmt.Errorf("got %s %q", resp.Status, body)
	}
	return resp.Close, nil
}

func (l *load) keepalive() {
	defer l.wg.Done()
	for {
		c, err := l.dial()
		if err != nil {
			l.fail(err, true)
			if l.stopped(100 * time.Millisecond) {
				return
			}
			continue
		}
		br := bufio.NewReader(c)
		for {
			closed, err := clusterGet(c, br, false)
			if err != nil {
				l.fail(err, false)
				break
			}
			l.c.requests.Add(1)
			if closed {
				l.c.closes.Add(1) // a draining server: open the next one
				break
			}
			if l.stopped(100 * time.Millisecond) {
				c.Close()
				return
			}
		}
		c.Close()
		select {
		case <-l.stop:
			return
		default:
		}
	}
}

func (l *load) newConns() {
	defer l.wg.Done()
	for !l.stopped(50 * time.Millisecond) {
		c, err := l.dial()
		if err != nil {
			l.fail(err, true)
			continue
		}
		if _, err := clusterGet(c, bufio.NewReader(c), true); err != nil {
			l.fail(err, false)
		} else {
			l.c.requests.Add(1)
		}
		c.Close()
	}
}

func startLoad(n *clusterNet, keepalives int) *load {
	l := &load{n: n, stop: make(chan struct{})}
	for i := 0; i < keepalives; i++ {
		l.wg.Add(1)
		go l.keepalive()
	}
	l.wg.Add(1)
	go l.newConns()
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

// eventResult is one event's count.
type eventResult struct {
	name string
	d    tallySnap
	cap  int64 // breaks allowed (the killed host's connections); 0: none
}

// runClusterScenario builds the topology, runs the events under load and
// returns the count per event.
func runClusterScenario(t *testing.T, resilient, cluster, v6, kill bool, keepalives int) []eventResult {
	all := []int{1, 2, 3}
	n := newClusterNet(t, resilient, cluster, v6, all)
	for _, id := range all {
		n.startHost(id)
	}
	n.warmNeighbours()
	n.setGroup([]int{1, 2}, true)
	if f := os.Getenv("XDPTCP_CLUSTER_PCAP"); f != "" {
		// The client side of every connection, for looking into a failure.
		dump := n.cli.Command("tcpdump", "-i", "any", "-w", f, "-s", "128", "tcp")
		if err := dump.Start(); err == nil {
			time.Sleep(500 * time.Millisecond)
			t.Cleanup(func() { dump.Process.Signal(syscall.SIGINT); dump.Wait() })
		}
	}
	n.waitServed()
	l := startLoad(n, keepalives)
	stopped := false
	defer func() {
		if !stopped {
			l.finish()
		}
	}()
	var res []eventResult
	phase := func(name string, settle time.Duration, fn func()) tallySnap {
		before := l.c.snap()
		fn()
		time.Sleep(settle)
		d := l.c.snap().sub(before)
		res = append(res, eventResult{name: name, d: d})
		return d
	}
	warm := 1500 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("XDPTCP_CLUSTER_WARMUP")); err == nil {
		warm = d // a longer steady phase, to look for resets without events
	}
	phase("warm-up", warm, func() {})
	phase("add host 3", 3*time.Second, func() { n.setGroup([]int{1, 2, 3}, false) })
	fwdSeen := func(when string) {
		var out, in float64
		for _, id := range all {
			if h := n.hosts[id]; h != nil && h.cmd.ProcessState == nil {
				o, i := h.forwarded(t)
				out, in = out+o, in+i
			}
		}
		t.Logf("%s: hosts forwarded %.0f segments, received %.0f forwarded frames", when, out, in)
		if cluster && (out == 0 || in == 0) {
			t.Errorf("%s: no segment was forwarded: the events did not move a flow, the test proves nothing", when)
		}
	}
	fwdSeen("after adding host 3")
	phase("drain host 1", 500*time.Millisecond, func() {
		h := n.hosts[1]
		if out, code := runBin(t, "ip", "netns", "exec", h.ns.Name, daemonBinary(t), "drain", "--admin", "127.0.0.1:9100"); code != 0 {
			t.Fatalf("xdptcpd drain: %d %s", code, out)
		}
		time.Sleep(300 * time.Millisecond) // a health checker's interval
		n.setGroup([]int{2, 3}, false)
		if !cluster {
			return // without forwarding its moved connections are reset, and it waits for --grace
		}
		select {
		case err := <-h.exited:
			h.exited <- err
			if err != nil {
				t.Errorf("drained host 1 exited with %v, want 0", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("drained host 1 still running 15 s after it left the group")
		}
	})
	if kill {
		h := n.hosts[2]
		var owned int64
		phase("kill -9 host 2", 4*time.Second, func() {
			// Counted just before the kill, plus the one connection the
			// new-connection client may open to it in between (it has one
			// at a time; the keep-alive clients open none now).
			owned = int64(h.open(t)) + 1
			h.cmd.Process.Signal(syscall.SIGKILL)
			time.Sleep(300 * time.Millisecond)
			n.setGroup([]int{3}, false)
		})
		res[len(res)-1].cap = owned
	}
	l.finish()
	stopped = true
	for _, e := range l.errs {
		t.Log(e)
	}
	if len(l.errs) > 0 {
		// What the hosts still running say about it.
		for _, id := range all {
			h := n.hosts[id]
			if h == nil || h.cmd.ProcessState != nil {
				continue
			}
			m := scrapeMetrics(t, h.ns, "127.0.0.1:9100")
			var line []string
			for name, f := range m {
				if !strings.HasPrefix(name, "xdptcp_cluster_") && !strings.Contains(name, "rst") && !strings.Contains(name, "syncookies") &&
					name != "xdptcp_frames_dropped_total" && !strings.Contains(name, "listen_") {
					continue
				}
				for _, mm := range f.Metric {
					v := mm.GetCounter().GetValue()
					if v == 0 {
						continue
					}
					lbl := ""
					for _, lp := range mm.Label {
						lbl += lp.GetName() + "=" + lp.GetValue() + " "
					}
					line = append(line, fmt.Sprintf("%s{%s}=%.0f", name, strings.TrimSpace(lbl), v))
				}
			}
			slices.Sort(line)
			t.Logf("host %d: %s", id, strings.Join(line, " "))
		}
	}
	return res
}

func TestClusterECMP(t *testing.T) {
	testnet.RequireRoot(t)
	long := os.Getenv("XDPTCP_CLUSTER_LONG") == "1"
	type scenario struct {
		name                   string
		resilient, cluster, v6 bool
	}
	scens := []scenario{
		{"IPv4, hash-threshold, cluster", false, true, false},
		{"IPv6, hash-threshold, cluster", false, true, true},
	}
	keepalives := 30
	if long {
		scens = []scenario{
			{"IPv4, hash-threshold, no cluster settings (baseline)", false, false, false},
			{"IPv4, hash-threshold, cluster", false, true, false},
			{"IPv4, resilient, cluster", true, true, false},
			{"IPv6, hash-threshold, no cluster settings (baseline)", false, false, true},
			{"IPv6, hash-threshold, cluster", false, true, true},
			{"IPv6, resilient, cluster", true, true, true},
		}
		keepalives = 300
	}
	var report []string
	for _, sc := range scens {
		t.Run(sc.name, func(t *testing.T) {
			res := runClusterScenario(t, sc.resilient, sc.cluster, sc.v6, long, keepalives)
			for _, r := range res {
				line := fmt.Sprintf("%-52s %-15s %s", sc.name, r.name, r.d)
				if r.cap > 0 {
					line += fmt.Sprintf(" (the killed host had %d connections, the new-connection client's one included)", r.cap)
				}
				t.Log(line)
				report = append(report, line)
				if !sc.cluster {
					continue // the baseline is reported, not judged
				}
				switch {
				case r.cap > 0:
					if r.d.broken() > r.cap {
						t.Errorf("%s: %d broken, more than the %d connections of the killed host", r.name, r.d.broken(), r.cap)
					}
				case r.d.broken() != 0:
					t.Errorf("%s: %s; want no reset, failed request or failed handshake", r.name, r.d)
				}
				if r.d.requests == 0 {
					t.Errorf("%s: no request was answered", r.name)
				}
			}
		})
	}
	t.Logf("cluster events (%d keep-alive connections, a request every 100 ms each, a new connection every 50 ms):\n%s", keepalives, strings.Join(report, "\n"))
}

// The extra latency of a forwarded segment (XDPTCP_CLUSTER_BENCH=1; run it
// under flock /work/bench.lock): 16 keep-alive connections opened on host
// 1; requests timed one at a time while the router sends the flows to host
// 1 (direct) and while it sends them to host 2, which forwards every
// segment to host 1 (forwarded), alternating twice. Prints the latency
// percentiles of each and the forwarded-segment rate host 2 sustained.
func TestClusterForwardLatency(t *testing.T) {
	if os.Getenv("XDPTCP_CLUSTER_BENCH") != "1" {
		t.Skip("set XDPTCP_CLUSTER_BENCH=1 to measure the latency of forwarded segments")
	}
	n := newClusterNet(t, false, true, false, []int{1, 2})
	n.startHost(1)
	h2 := n.startHost(2)
	n.setGroup([]int{1}, true)
	type kconn struct {
		c  net.Conn
		br *bufio.Reader
	}
	var conns []kconn
	l := &load{n: n}
	for i := 0; i < 16; i++ {
		c, err := l.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, kconn{c, bufio.NewReader(c)})
	}
	measure := func(samples int) []time.Duration {
		var d []time.Duration
		for i := 0; i < samples; i++ {
			k := conns[i%len(conns)]
			t0 := time.Now()
			if _, err := clusterGet(k.c, k.br, false); err != nil {
				t.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		return d
	}
	measure(200) // warm
	res := map[string][]time.Duration{}
	var fwdSegs float64
	var fwdTime time.Duration
	for round := 0; round < 2; round++ {
		n.setGroup([]int{1}, false)
		time.Sleep(200 * time.Millisecond)
		res["direct"] = append(res["direct"], measure(2000)...)
		n.setGroup([]int{2}, false)
		time.Sleep(200 * time.Millisecond)
		before, _ := h2.forwarded(t)
		t0 := time.Now()
		res["forwarded"] = append(res["forwarded"], measure(2000)...)
		fwdTime += time.Since(t0)
		after, _ := h2.forwarded(t)
		fwdSegs += after - before
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1))]
	}
	for _, k := range []string{"direct", "forwarded"} {
		d := res[k]
		t.Logf("%-9s %d requests: p50 %v p90 %v p99 %v", k, len(d), pct(d, .5), pct(d, .9), pct(d, .99))
	}
	t.Logf("extra latency of the forwarded path (request and its ACKs through host 2): p50 %v, p99 %v",
		pct(res["forwarded"], .5)-pct(res["direct"], .5), pct(res["forwarded"], .99)-pct(res["direct"], .99))
	t.Logf("host 2 forwarded %.0f segments in %v (%.0f segments/s, one request at a time)", fwdSegs, fwdTime, fwdSegs/fwdTime.Seconds())
	if fwdSegs < 4000 {
		t.Fatalf("only %.0f segments forwarded: the requests did not take the forwarded path", fwdSegs)
	}
	// Throughput: every connection making requests back to back for 2 s,
	// direct and forwarded, alternating twice.
	flat := func() float64 {
		var count atomic.Int64
		stop := time.Now().Add(2 * time.Second)
		var wg sync.WaitGroup
		for _, k := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					if _, err := clusterGet(k.c, k.br, false); err != nil {
						t.Error(err)
						return
					}
					count.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(count.Load()) / 2
	}
	rate := map[string]float64{}
	var segs float64
	for round := 0; round < 2; round++ {
		n.setGroup([]int{1}, false)
		time.Sleep(200 * time.Millisecond)
		rate["direct"] += flat() / 2
		n.setGroup([]int{2}, false)
		time.Sleep(200 * time.Millisecond)
		before, _ := h2.forwarded(t)
		rate["forwarded"] += flat() / 2
		after, _ := h2.forwarded(t)
		segs += (after - before) / 4
	}
	t.Logf("16 connections back to back: direct %.0f requests/s, forwarded %.0f requests/s (ratio %.2f); host 2 forwarded %.0f segments/s",
		rate["direct"], rate["forwarded"], rate["forwarded"]/rate["direct"], segs)
}
