package main

// The running daemon: served ports whose handler a reload can swap,
// SIGHUP reloads and the graceful SIGTERM shutdown.

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/syncookie"
)

type daemon struct {
	args   []string // the command line, parsed again by each reload
	o      *options // the configuration in force
	st     *xdptcp.Stack
	log    *slog.Logger
	level  *slog.LevelVar
	routes map[uint16]*route
	admin  *adminServer // nil without --admin
	// cookieKeys are the shared SYN-cookie keys in force (nil without
	// --cookie-key-file); a reload rotates them when the file changed.
	cookieKeys []syncookie.Key
}

// route is what a served port does with a new connection; a reload swaps
// it, connections already open keep the handler they got.
type route struct {
	p atomic.Pointer[routeSpec]
}

type routeSpec struct {
	handler   string
	keepalive bool
	newH      func(c *tcp.Conn) tcp.Handler
}

func newRouteSpec(l listenSpec) (*routeSpec, error) {
	nh, err := lookupHandler(l.Handler)
	if err != nil {
		return nil, err
	}
	return &routeSpec{handler: l.Handler, keepalive: l.Keepalive, newH: nh}, nil
}

// newConn runs on the loop for every established connection.
func (r *route) newConn(c *tcp.Conn) tcp.Handler {
	s := r.p.Load()
	if s.keepalive {
		c.SetKeepAlive(true)
	}
	return s.newH(c)
}

// serveListen starts serving l.
func (d *daemon) serveListen(l listenSpec) error {
	s, err := newRouteSpec(l)
	if err != nil {
		return usagef("listen %d: %v", l.Port, err)
	}
	r := &route{}
	r.p.Store(s)
	if err := d.st.Serve(l.Port, xdptcp.ServeOptions{Backlog: l.Backlog}, r.newConn); err != nil {
		return err
	}
	d.routes[l.Port] = r
	return nil
}

// reload reads the configuration again (flags given on the command line
// still win). TCP settings, handlers, keepalive and new ports apply to
// connections opened afterwards; the log level and the shutdown settings
// at once. What needs a restart is logged and kept.
func (d *daemon) reload() {
	no, err := parseOptions(d.args, io.Discard)
	if err == nil {
		_, err = newLogger(no, io.Discard, new(slog.LevelVar))
	}
	var cfg xdptcp.Config
	if err == nil {
		cfg, err = stackConfig(no, d.log)
	}
	if err != nil {
		d.log.Error("reload failed; the running configuration stays", "err", err.Error())
		return
	}
	old := d.o
	var kept, changed []string
	restartOnly := []struct {
		key  string
		a, b any
	}{
		{"iface", old.Iface, no.Iface}, {"addr", old.Addr.String(), no.Addr.String()}, {"gateway", old.Gateway.String(), no.Gateway.String()},
		{"queues", fmt.Sprint(old.Queues), fmt.Sprint(no.Queues)}, {"cpus", fmt.Sprint(old.CPUs), fmt.Sprint(no.CPUs)},
		{"xdp_mode", old.XDPMode, no.XDPMode}, {"bind_mode", old.BindMode, no.BindMode}, {"tx_checksum", old.TxChecksum, no.TxChecksum},
		{"xdp_replace", old.XDPReplace, no.XDPReplace}, {"admin", old.Admin, no.Admin},
		{"admin_token_file", old.AdminTokenFile, no.AdminTokenFile}, {"metrics", old.Metrics, no.Metrics},
		{"log_format", old.LogFormat, no.LogFormat}, {"busy_poll", old.BusyPoll, no.BusyPoll},
		{"frame_size", old.FrameSize, no.FrameSize}, {"num_frames", old.NumFrames, no.NumFrames},
		{"ring_size", old.RingSize, no.RingSize}, {"batch", old.Batch, no.Batch},
		{"cluster_id", old.ClusterID, no.ClusterID}, {"cluster_peer", old.ClusterPeer.String(), no.ClusterPeer.String()},
		{"cluster_id_bits", old.ClusterIDBits, no.ClusterIDBits},
	}
	for _, r := range restartOnly {
		if r.a != r.b {
			kept = append(kept, r.key)
		}
	}
	// TCP settings.
	oldTCP, _ := stackConfig(old, d.log)
	tcpKept, err := d.st.SetTCP(cfg.TCP)
	if err != nil {
		d.log.Error("reload failed; the running configuration stays", "err", err.Error())
		return
	}
	for _, name := range tcp.SettingNames() {
		a, _ := oldTCP.TCP.Get(name)
		b, _ := cfg.TCP.Get(name)
		if a != b && !slices.Contains(tcpKept, name) {
			changed = append(changed, "sysctl."+name)
		}
	}
	for _, n := range tcpKept {
		kept = append(kept, "sysctl."+n)
	}
	// Ports and handlers.
	newPorts := map[uint16]bool{}
	listen := make([]listenSpec, 0, len(no.Listen))
	for _, l := range no.Listen {
		newPorts[l.Port] = true
		r := d.routes[l.Port]
		if r == nil {
			if err := d.serveListen(l); err != nil {
				d.log.Error("reload: cannot serve new port", "port", l.Port, "err", err.Error())
				continue
			}
			changed = append(changed, fmt.Sprintf("listen.%d(new,%s)", l.Port, l.Handler))
			listen = append(listen, l)
			continue
		}
		prev := oldListen(old, l.Port)
		if prev.Backlog != l.Backlog {
			kept = append(kept, fmt.Sprintf("listen.%d.backlog", l.Port))
			l.Backlog = prev.Backlog
		}
		if cur := r.p.Load(); cur.handler != l.Handler || cur.keepalive != l.Keepalive {
			s, _ := newRouteSpec(l) // validated by parseOptions
			r.p.Store(s)
			changed = append(changed, fmt.Sprintf("listen.%d(%s)", l.Port, l.Handler))
		}
		listen = append(listen, l)
	}
	for _, l := range old.Listen {
		if !newPorts[l.Port] {
			kept = append(kept, fmt.Sprintf("listen.%d(removal)", l.Port))
			listen = append(listen, l)
		}
	}
	// Shared SYN-cookie keys: the file is read again on every reload (a
	// rotation changes its content, not its name); switching between a
	// key file and none needs a restart (the listeners hold their jar).
	switch {
	case (old.CookieKeyFile == "") != (no.CookieKeyFile == ""):
		kept = append(kept, "cookie_key_file")
		no.CookieKeyFile = old.CookieKeyFile
	case no.CookieKeyFile != "":
		if !slices.Equal(cfg.CookieKeys, d.cookieKeys) {
			if err := d.st.SetCookieKeys(cfg.CookieKeys); err != nil {
				d.log.Error("reload: cookie keys not rotated", "err", err.Error())
			} else {
				d.cookieKeys = cfg.CookieKeys
				changed = append(changed, "cookie_key_file")
			}
		}
	}
	if no.LogLevel != old.LogLevel {
		var lv slog.Level
		lv.UnmarshalText([]byte(no.LogLevel))
		d.level.Set(lv)
		changed = append(changed, "log_level")
	}
	if no.Grace != old.Grace {
		changed = append(changed, "grace")
	}
	if no.ShutdownSYN != old.ShutdownSYN {
		changed = append(changed, "shutdown_syn")
	}
	// What is in force now: the new options, with restart-only values kept.
	next := *no
	next.Iface, next.Addr, next.Gateway, next.Queues, next.CPUs = old.Iface, old.Addr, old.Gateway, old.Queues, old.CPUs
	next.XDPMode, next.BindMode, next.XDPReplace, next.Admin, next.TxChecksum = old.XDPMode, old.BindMode, old.XDPReplace, old.Admin, old.TxChecksum
	next.AdminTokenFile, next.Metrics = old.AdminTokenFile, old.Metrics
	next.LogFormat, next.BusyPoll, next.FrameSize, next.NumFrames, next.Batch = old.LogFormat, old.BusyPoll, old.FrameSize, old.NumFrames, old.Batch
	next.RingSize = old.RingSize
	next.ClusterID, next.ClusterPeer, next.ClusterIDBits = old.ClusterID, old.ClusterPeer, old.ClusterIDBits
	next.Listen = listen
	next.sysctls = append(append([][2]string(nil), no.sysctls...), tcpKeptSysctls(oldTCP.TCP, tcpKept)...)
	d.o = &next
	if len(kept) > 0 {
		d.log.Warn("reload: these settings need a restart; their running values stay", "kept", strings.Join(kept, ","))
	}
	d.log.Info("configuration reloaded", "changed", strings.Join(changed, ","))
}

func oldListen(o *options, port uint16) listenSpec {
	for _, l := range o.Listen {
		if l.Port == port {
			return l
		}
	}
	return listenSpec{}
}

// tcpKeptSysctls pins the kept settings to their running values, so the
// next reload compares against what is in force.
func tcpKeptSysctls(cur tcp.Config, names []string) [][2]string {
	var out [][2]string
	for _, n := range names {
		v, _ := cur.Get(n)
		out = append(out, [2]string{n, v})
	}
	return out
}

// wait serves until the daemon is to stop: SIGHUP reloads; SIGTERM/SIGINT
// shut down gracefully; SIGUSR1 or POST /drain (xdptcpd drain) drain.
func (d *daemon) wait(sigs <-chan os.Signal) {
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				d.reload()
				continue
			case syscall.SIGUSR1:
				d.drain(sigs)
				return
			}
			d.shutdown(sigs)
			return
		case <-d.admin.drainReq:
			d.drain(sigs)
			return
		}
	}
}

// drainQuiet is how long a draining host with no connection left must
// have forwarded nothing before it exits: the router still sends it flows
// (new connections it hands to peers, segments of theirs) until the
// health check withdrew it, and exiting earlier would lose them.
var drainQuiet = 2 * time.Second

// drain takes the host out of service without breaking a connection:
// /healthz answers 503 (a health checker withdraws the route), new
// connections go to cluster peers (SYNs forwarded; stack.Cluster), the
// http handler answers "Connection: close" so keep-alive clients move on,
// and the connections the host has are served wherever the router
// delivers their segments. It returns once no connection is left and the
// host forwarded nothing for drainQuiet (Stack.DrainConns: a half-open
// connection whose client went silent for 3 s does not count), or after
// --grace, when what is
// left is closed as in shutdown (FIN, then RST after a second grace). A
// SIGTERM/SIGINT cuts it short into shutdown.
func (d *daemon) drain(sigs <-chan os.Signal) {
	o := d.o
	d.admin.draining.Store(true)
	d.st.SetDraining(true)
	httpDraining.Store(true)
	d.log.Info("xdptcpd draining: /healthz answers 503, new connections go to peers, open ones are served until they end",
		"conns", d.st.LiveConns(), "grace", o.Grace.String(), "cluster", o.ClusterID >= 0)
	deadline := time.NewTimer(o.Grace)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	fwd, quietSince := d.st.Forwarded(), time.Now()
	for {
		if f := d.st.Forwarded(); f != fwd {
			fwd, quietSince = f, time.Now()
		}
		if d.st.DrainConns() == 0 && time.Since(quietSince) >= drainQuiet {
			d.log.Info("drained: no connection left and no traffic to forward")
			return
		}
		select {
		case <-deadline.C:
			n := d.st.CloseConns(false)
			d.log.Info("drain: grace period over, closing the remaining connections with FIN", "conns", n)
			if d.waitConns(o.Grace, sigs) {
				return
			}
			n = d.st.CloseConns(true)
			d.log.Warn("drain: second grace period over: resetting the remaining connections", "conns", n)
			return
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				d.reload()
			case syscall.SIGUSR1:
			default:
				d.log.Info("signal while draining: shutting down", "signal", sig.String())
				d.shutdown(sigs)
				return
			}
		case <-tick.C:
		}
	}
}

// shutdown is the graceful stop: refuse new connections (SYNs dropped or
// answered with RST per shutdown_syn), let the established ones finish
// for grace, close what is left with FIN, and after a second grace reset
// the rest. Another SIGINT/SIGTERM cuts the current wait short.
func (d *daemon) shutdown(sigs <-chan os.Signal) {
	o := d.o
	d.admin.draining.Store(true)
	d.st.StopAccepting(o.ShutdownSYN == "rst")
	n := d.st.LiveConns()
	d.log.Info("xdptcpd stopping: new connections refused, waiting for open ones to finish",
		"conns", n, "grace", o.Grace.String(), "syn", o.ShutdownSYN)
	if d.waitConns(o.Grace, sigs) {
		return
	}
	n = d.st.CloseConns(false)
	d.log.Info("grace period over: closing the remaining connections with FIN", "conns", n)
	if d.waitConns(o.Grace, sigs) {
		return
	}
	n = d.st.CloseConns(true)
	d.log.Warn("second grace period over: resetting the remaining connections", "conns", n)
}

// waitConns waits until no connection is left (true), grace passes or a
// SIGINT/SIGTERM arrives (false).
func (d *daemon) waitConns(grace time.Duration, sigs <-chan os.Signal) bool {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if d.st.LiveConns() == 0 {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				d.log.Info("second signal: not waiting any longer", "signal", sig.String())
				return false
			}
		case <-tick.C:
		}
	}
}
