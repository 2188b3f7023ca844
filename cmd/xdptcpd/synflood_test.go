package main

// SYN flood against xdptcpd with Linux kernel clients: spoofed SYNs from
// 198.18.128.0/17 fill the SYN queue, SYN cookies keep real clients served.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/flood"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

const (
	floodSources  = "198.18.128.0/17" // bench/flood's only source prefix
	floodDuration = 10 * time.Second
	floodRate     = 10_000_000 // SYNs/s asked for: more than one sender can do, so it sends flat out
	floodClients  = 16         // concurrent kernel clients
	floodMinReqs  = 1000
)

// floodRoutes makes the flood's return traffic die in the client
// namespace: the server kernel routes 198.18.128.0/17 there (xdptcpd
// answers off-link sources at the frames' Ethernet source, the client
// veth, by the stack's next-hop rule), and an nftables rule in the client
// namespace drops everything addressed to it before routing, so the client
// kernel neither answers the SYN-ACKs with RSTs nor sends ICMP errors.
func floodRoutes(t *testing.T, tp *topo) {
	t.Helper()
	tp.srv.Exec(t, "ip", "route", "add", floodSources, "via", cliIP)
	tp.cli.Exec(t, "nft", "add", "table", "ip", "synflood")
	tp.cli.Exec(t, "nft", "add", "chain", "ip", "synflood", "pre",
		"{", "type", "filter", "hook", "prerouting", "priority", "-300", ";", "policy", "accept", ";", "}")
	tp.cli.Exec(t, "nft", "add", "rule", "ip", "synflood", "pre", "ip", "daddr", floodSources, "counter", "drop")
}

// vmRSS returns the resident set size of pid in KiB (/proc/PID/status).
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// floodMetrics reads xdptcpd's /metrics into name -> value (first sample).
func floodMetrics(t *testing.T, tp *topo) map[string]float64 {
	t.Helper()
	fams := scrapeMetrics(t, tp.srv, tp.admin)
	m := map[string]float64{}
	for name, f := range fams {
		if len(f.Metric) == 0 {
			continue
		}
		switch {
		case f.Metric[0].Counter != nil:
			m[name] = f.Metric[0].GetCounter().GetValue()
		case f.Metric[0].Gauge != nil:
			m[name] = f.Metric[0].GetGauge().GetValue()
		}
	}
	return m
}

// floodResult is what the kernel clients saw.
type floodResult struct {
	ok, failed int
	connect    []time.Duration // connect time of each successful request
	errs       []string        // the first few errors
	elapsed    time.Duration
}

// p returns the q-quantile of the connect times.
func (r *floodResult) p(q float64) time.Duration {
	if len(r.connect) == 0 {
		return 0
	}
	s := slices.Clone(r.connect)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// floodRequestTimeout bounds a request once connected: generous, because
// the machine is shared and a lost segment under the flood costs the
// kernel client a retransmission timeout (1 s, then 2 s, 4 s, ...).
const floodRequestTimeout = 30 * time.Second

// floodGet makes one "Connection: close" HTTP/1.1 request on c and checks
// the response, like get with a longer deadline.
func floodGet(c net.Conn) error {
	c.SetDeadline(time.Now().Add(floodRequestTimeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+srvIP+"\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(body) != "Hello, World!" {
		return fmt.Errorf("got %s %q", resp.Status, body)
	}
	return nil
}

// floodClientsRun makes HTTP requests on new connections from the client
// namespace with n workers until stop is closed and at least minReqs were
// made (bounded by limit), recording connect times.
func floodClientsRun(tp *topo, port string, n, minReqs int, stop <-chan struct{}, limit time.Duration) *floodResult {
	var (
		mu    sync.Mutex
		res   floodResult
		total atomic.Int64
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(limit)
	stopped := func() bool {
		select {
		case <-stop:
			return total.Load() >= int64(minReqs) || time.Now().After(deadline)
		default:
			return time.Now().After(deadline)
		}
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() {
				total.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), floodRequestTimeout)
				t0 := time.Now()
				c, err := tp.cli.Dial(ctx, "tcp", net.JoinHostPort(tp.floodTarget(), port))
				cancel()
				d := time.Since(t0)
				if err == nil {
					err = floodGet(c)
					c.Close()
				}
				mu.Lock()
				if err != nil {
					res.failed++
					if len(res.errs) < 5 {
						res.errs = append(res.errs, err.Error())
					}
				} else {
					res.ok++
					res.connect = append(res.connect, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return &res
}

// floodFlatOut sends spoofed SYNs from the client namespace as fast as one
// raw socket can for d, in chunks of floodChunk SYNs (flood.Run with a
// Count: asked for a rate above what it can send, Run sends each chunk
// back to back, and the wall clock bounds the whole to d plus one chunk).
func floodFlatOut(tp *topo, port string, d time.Duration) (flood.Stats, error) {
	const floodChunk = 150_000
	var total flood.Stats
	start := time.Now()
	for seed := uint64(1); time.Since(start) < d; seed++ {
		st, err := flood.Run(context.Background(), flood.Config{
			Target:   netip.MustParseAddrPort(net.JoinHostPort(tp.floodTarget(), port)),
			Sources:  tp.floodSources(),
			Rate:     floodRate,
			Duration: d,
			Count:    floodChunk,
			Netns:    tp.cli.Name,
			Seed:     seed,
			Options:  true, // MSS, SACK, timestamps, window scale, as Linux clients send
		})
		total.Sent += st.Sent
		total.Errors += st.Errors
		if err != nil {
			return total, err
		}
	}
	total.Elapsed = time.Since(start)
	return total, nil
}

// TestSynFloodKernelClients floods xdptcpd (tcp_syncookies 1, the
// default; a SYN queue of 128) with spoofed SYNs from 198.18.128.0/17 as
// fast as one raw socket sends, for 10 s, while kernel clients make HTTP
// requests on new connections: at least 1,000, 99.9 % of them succeed,
// cookies were sent and returned, and xdptcpd's resident memory after the
// flood is within 10 % of before.
//
// The clients' connections end in TIME-WAIT on xdptcpd's side (it closes
// first after "Connection: close"); that memory is the clients', not the
// flood's, so tcp_msl=1 keeps TIME-WAIT at 2 s, a warm-up with the same
// clients and no flood comes first, and both memory readings are taken
// once TIME-WAIT has drained.
func TestSynFloodKernelClients(t *testing.T) {
	tp := newTopo(t, "--sysctl", "tcp_max_syn_backlog=128", "--sysctl", "tcp_msl=1")
	floodRoutes(t, tp)
	pid := tp.cmd.Process.Pid       // ip netns exec execs xdptcpd: same PID
	const twDrain = 3 * time.Second // 2*tcp_msl and a second

	warm := make(chan struct{})
	time.AfterFunc(5*time.Second, func() { close(warm) })
	if r := floodClientsRun(tp, "8080", floodClients, 200, warm, 30*time.Second); r.failed > 0 {
		t.Fatalf("%d of %d requests failed before the flood: %v", r.failed, r.ok+r.failed, r.errs)
	} else {
		t.Logf("no flood: %d requests in %v (%.0f conn/s), connect time p50 %v p99 %v", r.ok, r.elapsed.Round(time.Millisecond),
			float64(r.ok)/r.elapsed.Seconds(), r.p(0.5).Round(time.Microsecond), r.p(0.99).Round(time.Microsecond))
	}
	time.Sleep(twDrain)
	rssBefore := vmRSS(t, pid)
	m0 := floodMetrics(t, tp)

	stop := make(chan struct{})
	var fst flood.Stats
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(stop)
		fst, ferr = floodFlatOut(tp, "8080", floodDuration)
	}()
	res := floodClientsRun(tp, "8080", floodClients, floodMinReqs, stop, 40*time.Second)
	<-done
	if ferr != nil {
		t.Fatalf("flood: %v", ferr)
	}
	time.Sleep(twDrain)
	m1 := floodMetrics(t, tp)
	rssAfter := vmRSS(t, pid)

	total := res.ok + res.failed
	sent := m1["xdptcp_tcp_ext_syncookies_sent_total"] - m0["xdptcp_tcp_ext_syncookies_sent_total"]
	recv := m1["xdptcp_tcp_ext_syncookies_recv_total"] - m0["xdptcp_tcp_ext_syncookies_recv_total"]
	failed := m1["xdptcp_tcp_ext_syncookies_failed_total"] - m0["xdptcp_tcp_ext_syncookies_failed_total"]
	summary := fmt.Sprintf("flood: %d SYNs in %v (%.0f SYN/s, %d send errors); clients: %d/%d requests on new connections succeeded in %v (%.0f conn/s), connect time p50 %v p99 %v max %v; SyncookiesSent %.0f SyncookiesRecv %.0f SyncookiesFailed %.0f TCPReqQFullDoCookies %.0f TCPReqQFullDrop %.0f ListenDrops %.0f; VmRSS %d kB -> %d kB",
		fst.Sent, fst.Elapsed.Round(time.Millisecond), fst.Rate(), fst.Errors,
		res.ok, total, res.elapsed.Round(time.Millisecond), float64(res.ok)/res.elapsed.Seconds(),
		res.p(0.5).Round(time.Microsecond), res.p(0.99).Round(time.Microsecond), res.p(1).Round(time.Microsecond),
		sent, recv, failed,
		m1["xdptcp_tcp_ext_tcp_req_q_full_do_cookies_total"]-m0["xdptcp_tcp_ext_tcp_req_q_full_do_cookies_total"],
		m1["xdptcp_tcp_ext_tcp_req_q_full_drop_total"]-m0["xdptcp_tcp_ext_tcp_req_q_full_drop_total"],
		m1["xdptcp_tcp_ext_listen_drops_total"]-m0["xdptcp_tcp_ext_listen_drops_total"],
		rssBefore, rssAfter)
	t.Log(summary)
	if res.failed > 0 {
		t.Logf("first errors: %q", res.errs)
	}
	// Where the SYN-ACKs died: the client namespace's drop rule.
	if out, err := testnet.Try("ip", "netns", "exec", tp.cli.Name, "nft", "list", "chain", "ip", "synflood", "pre"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "drop") {
				t.Logf("client namespace: %s", strings.TrimSpace(line))
			}
		}
	}
	noteSection("test", fmt.Sprintf("Last run of TestSynFloodKernelClients (%s): %s.", time.Now().UTC().Format(time.RFC3339), summary))

	if total < floodMinReqs {
		t.Errorf("only %d requests made", total)
	}
	if float64(res.ok) < 0.999*float64(total) {
		t.Errorf("%d of %d requests failed (want at most 0.1 %%): %v", res.failed, total, res.errs)
	}
	if fst.Sent < 10_000 {
		t.Errorf("the flood sent only %d SYNs", fst.Sent)
	}
	if sent == 0 || recv == 0 {
		t.Errorf("SyncookiesSent %.0f, SyncookiesRecv %.0f: want both non-zero", sent, recv)
	}
	if d := rssAfter - rssBefore; d*10 > rssBefore || -d*10 > rssBefore {
		t.Errorf("VmRSS %d kB before the flood, %d kB after: more than 10 %% apart", rssBefore, rssAfter)
	}
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// kernelNetstat reads TcpExt counters of ns's kernel (/proc/net/netstat
// is per network namespace).
func kernelNetstat(t *testing.T, ns *testnet.NS) map[string]float64 {
	t.Helper()
	out := ns.Exec(t, "cat", "/proc/net/netstat")
	lines := strings.Split(out, "\n")
	m := map[string]float64{}
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 || names[0] != "TcpExt:" {
			continue
		}
		for j := 1; j < len(names); j++ {
			v, _ := strconv.ParseFloat(values[j], 64)
			m[names[j]] = v
		}
	}
	return m
}

// notesFile is where the measured figures go for the README (the
// integrator merges /tmp/readme-notes).
const notesFile = "/tmp/readme-notes/syncookies.md"

// noteSection replaces the text between the markers of section in
// notesFile (appending the section if it is not there yet), so that every
// run leaves its latest figures and the hand-written notes stay.
func noteSection(section, text string) {
	begin, end := "<!-- synflood-"+section+" -->\n", "<!-- /synflood-"+section+" -->\n"
	if os.MkdirAll(filepath.Dir(notesFile), 0o755) != nil {
		return
	}
	old, _ := os.ReadFile(notesFile)
	s := string(old)
	block := begin + strings.TrimRight(text, "\n") + "\n" + end
	if i := strings.Index(s, begin); i >= 0 {
		if j := strings.Index(s[i:], end); j >= 0 {
			s = s[:i] + block + s[i+j+len(end):]
			os.WriteFile(notesFile, []byte(s), 0o644)
			return
		}
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	os.WriteFile(notesFile, []byte(s+block), 0o644)
}

// TestSynFloodBench is the bench, not a test (it runs only with
// XDPTCP_SYNFLOOD_BENCH=1): the flood of TestSynFloodKernelClients against
// the Linux kernel (tcp_syncookies=1, tcp_max_syn_backlog=128, the Go net
// peer server bench/cmd/xdptcp-peer) and against xdptcpd on the same
// topology, reporting the legitimate connection rate and connect-time p99
// without and under the flood. The table is logged and written to
// notesFile.
func TestSynFloodBench(t *testing.T) {
	if os.Getenv("XDPTCP_SYNFLOOD_BENCH") != "1" {
		t.Skip("a bench: set XDPTCP_SYNFLOOD_BENCH=1")
	}
	tp := newTopo(t, "--sysctl", "tcp_max_syn_backlog=128", "--sysctl", "tcp_msl=1")
	floodRoutes(t, tp)
	tp.srv.Exec(t, "sysctl", "-q", "-w", "net.ipv4.tcp_syncookies=1", "net.ipv4.tcp_max_syn_backlog=128")

	dir := t.TempDir()
	peer := filepath.Join(dir, "xdptcp-peer")
	if out, err := testnet.Try("go", "build", "-o", peer, "../../bench/cmd/xdptcp-peer"); err != nil {
		t.Fatalf("build xdptcp-peer: %v\n%s", err, out)
	}
	pc := tp.srv.Command(peer, "--mode", "net", "--http", srvIP+":8081")
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Process.Kill(); pc.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tp.cli.Dial(context.Background(), "tcp", srvIP+":8081")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel peer not up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	type row struct {
		name                   string
		calmRate, calmP99      float64
		floodRate, floodP99    float64
		ok, total              int
		synRate                float64
		cookiesSent, cookiesOK float64
	}
	var rows []row
	for _, target := range []struct{ name, port string }{{"Linux (tcp_syncookies=1)", "8081"}, {"xdptcpd", "8080"}} {
		r := row{name: target.name}
		calm := make(chan struct{})
		time.AfterFunc(5*time.Second, func() { close(calm) })
		c := floodClientsRun(tp, target.port, floodClients, 0, calm, 30*time.Second)
		r.calmRate, r.calmP99 = float64(c.ok)/c.elapsed.Seconds(), float64(c.p(0.99))/1e6
		time.Sleep(3 * time.Second)
		k0, m0 := kernelNetstat(t, tp.srv), floodMetrics(t, tp)
		stop := make(chan struct{})
		var fst flood.Stats
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(stop)
			fst, _ = floodFlatOut(tp, target.port, floodDuration)
		}()
		f := floodClientsRun(tp, target.port, floodClients, 0, stop, 45*time.Second)
		<-done
		k1, m1 := kernelNetstat(t, tp.srv), floodMetrics(t, tp)
		r.floodRate, r.floodP99 = float64(f.ok)/f.elapsed.Seconds(), float64(f.p(0.99))/1e6
		r.ok, r.total = f.ok, f.ok+f.failed
		r.synRate = fst.Rate()
		if target.port == "8081" {
			r.cookiesSent, r.cookiesOK = k1["SyncookiesSent"]-k0["SyncookiesSent"], k1["SyncookiesRecv"]-k0["SyncookiesRecv"]
		} else {
			r.cookiesSent = m1["xdptcp_tcp_ext_syncookies_sent_total"] - m0["xdptcp_tcp_ext_syncookies_sent_total"]
			r.cookiesOK = m1["xdptcp_tcp_ext_syncookies_recv_total"] - m0["xdptcp_tcp_ext_syncookies_recv_total"]
		}
		rows = append(rows, r)
		time.Sleep(3 * time.Second)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SYN flood bench, %s: %d kernel clients (Go net, new connection per HTTP request), flood from one raw socket, 10 s\n\n", time.Now().UTC().Format(time.RFC3339), floodClients)
	fmt.Fprintf(&b, "| server | conn/s no flood | p99 connect no flood | flood SYN/s sent | conn/s under flood | p99 connect under flood | requests ok | SyncookiesSent | SyncookiesRecv |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.0f | %.2f ms | %.0f | %.0f | %.2f ms | %d/%d | %.0f | %.0f |\n",
			r.name, r.calmRate, r.calmP99, r.synRate, r.floodRate, r.floodP99, r.ok, r.total, r.cookiesSent, r.cookiesOK)
	}
	t.Log("\n" + b.String())
	noteSection("bench", b.String())
}

// floodTarget is the address the flood and its clients aim at.
func (tp *topo) floodTarget() string {
	if tp.v6 {
		return srvIP6
	}
	return srvIP
}

// floodSources is the flood's spoofed source prefix.
func (tp *topo) floodSources() netip.Prefix {
	if tp.v6 {
		return flood.Allowed6
	}
	return netip.MustParsePrefix(floodSources)
}
