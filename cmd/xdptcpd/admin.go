package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// adminServer serves /healthz, /metrics and /debug/conns on a kernel socket.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
	// draining is set when a graceful shutdown begins: /healthz answers
	// 503 so that load balancers stop sending new clients.
	draining atomic.Bool
}

func startAdmin(addr string, st *xdptcp.Stack, log *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(st))
	a := &adminServer{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/conns", func(w http.ResponseWriter, r *http.Request) {
		conns := st.Conns()
		if state := r.URL.Query().Get("state"); state != "" {
			conns = filterState(conns, state)
		}
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(connsJSON(conns))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeConns(w, conns)
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "err", err)
		}
	}()
	return a, nil
}

func (a *adminServer) Close() error { return a.srv.Close() }

func filterState(conns []xdptcp.ConnInfo, state string) []xdptcp.ConnInfo {
	var out []xdptcp.ConnInfo
	for _, c := range conns {
		if strings.EqualFold(c.State.String(), state) || strings.EqualFold(strings.ReplaceAll(c.State.String(), "-", ""), strings.ReplaceAll(state, "-", "")) {
			out = append(out, c)
		}
	}
	return out
}

type connJSON struct {
	State  string  `json:"state"`
	Local  string  `json:"local"`
	Peer   string  `json:"peer"`
	SendQ  int     `json:"send_q"`
	RecvQ  int     `json:"recv_q"`
	RTTms  float64 `json:"rtt_ms"`
	RTOms  float64 `json:"rto_ms"`
	Cwnd   int     `json:"cwnd"`
	Timer  string  `json:"timer,omitempty"`
	TimerS float64 `json:"timer_s,omitempty"`
	Queue  int     `json:"queue"`
}

// addrPort prints an address and port as ss does: 198.18.0.1:80,
// [2001:2::1]:80.
func addrPort(a flowtable.Addr, p uint16) string {
	return netip.AddrPortFrom(a.Netip(), p).String()
}

func connsJSON(conns []xdptcp.ConnInfo) []connJSON {
	out := make([]connJSON, 0, len(conns))
	for _, c := range conns {
		out = append(out, connJSON{
			State: c.State.String(), Local: addrPort(c.Key.LocalAddr, c.Key.LocalPort),
			Peer: addrPort(c.Key.RemoteAddr, c.Key.RemotePort), SendQ: c.SendQ, RecvQ: c.RecvQ,
			RTTms: float64(c.RTT) / 1e6, RTOms: float64(c.RTO) / 1e6, Cwnd: c.Cwnd,
			Timer: c.Timer, TimerS: c.TimerIn.Seconds(), Queue: c.Queue,
		})
	}
	return out
}

// writeConns prints connections the way `ss -tan` does, with xdptcp's
// extra columns.
func writeConns(w io.Writer, conns []xdptcp.ConnInfo) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port\tRTT\tRTO\tCwnd\tTimer\tQueue")
	for _, c := range conns {
		timer := "-"
		if c.Timer != "" {
			timer = fmt.Sprintf("%s,%s", c.Timer, c.TimerIn.Round(time.Millisecond))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", c.State, c.RecvQ, c.SendQ,
			addrPort(c.Key.LocalAddr, c.Key.LocalPort), addrPort(c.Key.RemoteAddr, c.Key.RemotePort),
			c.RTT.Round(time.Microsecond), c.RTO.Round(time.Millisecond), c.Cwnd, timer, c.Queue)
	}
	tw.Flush()
}

// runSS prints /debug/conns of a running daemon.
func runSS(args []string, stderr io.Writer) int {
	fs := newFlagSet("xdptcpd ss", stderr)
	admin := fs.String("admin", "127.0.0.1:9100", "the daemon's --admin address")
	state := fs.String("state", "", "only connections in this state (e.g. ESTABLISHED, TIME-WAIT)")
	asJSON := fs.Bool("json", false, "print JSON (/debug/conns?format=json) instead of the ss-like table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *asJSON {
		q.Set("format", "json")
	}
	u := "http://" + *admin + "/debug/conns"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd ss: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		fmt.Fprintf(stderr, "xdptcpd ss: %s: %s\n", u, resp.Status)
		return 1
	}
	io.Copy(stdout, resp.Body)
	return 0
}

var _ = tcp.StateClosed
