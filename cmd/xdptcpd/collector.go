package main

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// collector exports the stack's counters at scrape time: the Linux nstat
// counters under their names (xdptcp_tcp_*, xdptcp_tcp_ext_*, xdptcp_ip_*,
// xdptcp_icmp_*), summed over loops, and per-queue frame, drop and ring
// figures. No per-connection labels.
type collector struct {
	st *xdptcp.Stack

	framesRx, framesTx, drops         *prometheus.Desc
	xskEvents, ringEntries, kernelXSK *prometheus.Desc
	connsByState, acceptQ, synQ       *prometheus.Desc
	descsMu                           sync.Mutex // concurrent scrapes
	descs                             map[string]*prometheus.Desc
	proxyBytes                        *prometheus.Desc
	loopUp, loopBusy                  *prometheus.Desc
}

func newCollector(st *xdptcp.Stack) *collector {
	q := []string{"queue"}
	return &collector{
		st:           st,
		framesRx:     prometheus.NewDesc("xdptcp_frames_received_total", "Frames received from the AF_XDP socket, per queue.", q, nil),
		framesTx:     prometheus.NewDesc("xdptcp_frames_transmitted_total", "Frames handed to the AF_XDP socket for transmission, per queue.", q, nil),
		drops:        prometheus.NewDesc("xdptcp_frames_dropped_total", "Frames dropped by the engine, per queue and reason.", []string{"queue", "reason"}, nil),
		xskEvents:    prometheus.NewDesc("xdptcp_xsk_events_total", "AF_XDP socket events per queue: fill_ring_empty, tx_ring_full, no_free_frame, tx_kicks, kick_again, fill_kicks, kick_errors, rx_too_long, multi_buffer_refused, tx_checksum_offload, rx_no_timestamp.", []string{"queue", "event"}, nil),
		ringEntries:  prometheus.NewDesc("xdptcp_xsk_ring_entries", "Entries in each AF_XDP ring (fill, completion, rx, tx) per queue.", []string{"queue", "ring"}, nil),
		kernelXSK:    prometheus.NewDesc("xdptcp_xsk_kernel_drops_total", "The kernel's XDP_STATISTICS per queue.", []string{"queue", "counter"}, nil),
		connsByState: prometheus.NewDesc("xdptcp_tcp_connections", "Connections by state (TIME-WAIT entries included), summed over queues.", []string{"state"}, nil),
		acceptQ:      prometheus.NewDesc("xdptcp_listen_accept_queue", "Connections waiting in a listener's accept queue, per port and queue.", []string{"port", "queue"}, nil),
		synQ:         prometheus.NewDesc("xdptcp_listen_syn_queue", "Half-open connections (SYN-RECEIVED) of a listener, per port and queue.", []string{"port", "queue"}, nil),
		descs:        map[string]*prometheus.Desc{},
		proxyBytes:   prometheus.NewDesc("xdptcp_proxy_bytes_total", "Bytes the proxy handlers forwarded, by direction.", []string{"direction"}, nil),
		loopBusy:     prometheus.NewDesc("xdptcp_loop_busy_seconds_total", "Time the queue's poll loop spent in iterations that found work (rate() of it is the loop's busy fraction).", q, nil),
		loopUp:       prometheus.NewDesc("xdptcp_loop_up", "1 while the queue's poll loop runs, 0 once it stopped with an error (the queue is no longer served).", q, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *collector) desc(name, help string) *prometheus.Desc {
	c.descsMu.Lock()
	defer c.descsMu.Unlock()
	d, ok := c.descs[name]
	if !ok {
		d = prometheus.NewDesc(name, help, nil, nil)
		c.descs[name] = d
	}
	return d
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectProxy(ch)
	accounts := map[*tcp.MemAccount]bool{}
	defer func() {
		// tcp_mem: buffer memory of every connection (one account for
		// the process unless loops were given their own), as
		// /proc/net/sockstat's "TCP: ... mem" (pages) and in bytes.
		var bytes, pages int64
		for a := range accounts {
			bytes += a.Bytes()
			pages += a.Pages()
		}
		ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_tcp_mem_pages", "Pages (4096 bytes) of buffer memory connections hold, the unit of tcp_mem (as /proc/net/sockstat mem)."), prometheus.GaugeValue, float64(pages))
		ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_tcp_mem_bytes", "Bytes of buffer memory connections hold (receive and send rings, out-of-order range tables)."), prometheus.GaugeValue, float64(bytes))
	}()
	var tcpSum tcp.Stats
	var orphans int
	defer func() {
		ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_tcp_orphans", "Connections the application closed that are still open, bounded per loop by tcp_max_orphans (as /proc/net/sockstat orphan)."), prometheus.GaugeValue, float64(orphans))
	}()
	engineSum := map[string]uint64{}
	var engineOrder []string
	for _, l := range c.st.Loops() {
		queue := strconv.Itoa(l.Queue)
		up := 1.0
		if l.Err() != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(c.loopUp, prometheus.GaugeValue, up, queue)
		es := l.Engine().Stats()
		ch <- prometheus.MustNewConstMetric(c.loopBusy, prometheus.CounterValue, float64(es.BusyNanos.Load())/1e9, queue)
		tcpSum.Add(l.Engine().TCP().Stats())
		orphans += l.Engine().TCP().Orphans()
		accounts[l.Engine().TCP().MemAccount()] = true
		es.Each(func(name string, v uint64) {
			if _, ok := engineSum[name]; !ok {
				engineOrder = append(engineOrder, name)
			}
			engineSum[name] += v
		})
		ch <- prometheus.MustNewConstMetric(c.framesRx, prometheus.CounterValue, float64(es.FramesRx.Load()), queue)
		ch <- prometheus.MustNewConstMetric(c.framesTx, prometheus.CounterValue, float64(es.FramesTx.Load()), queue)
		es.EachDrop(func(r stack.DropReason, v uint64) {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(v), queue, r.String())
		})
		xs := l.Socket().Stats()
		for _, e := range []struct {
			n string
			v uint64
		}{
			{"fill_ring_empty", xs.FillRingEmpty}, {"tx_ring_full", xs.TxRingFull}, {"no_free_frame", xs.NoFreeFrame},
			{"tx_kicks", xs.TxKicks}, {"kick_again", xs.KickAgain}, {"fill_kicks", xs.FillKicks}, {"kick_errors", xs.KickErrors},
			{"rx_too_long", xs.RxTooLong}, {"multi_buffer_refused", xs.MultiBufferRefused},
			{"tx_checksum_offload", xs.TxChecksumOffload}, {"rx_no_timestamp", xs.RxNoTimestamp},
		} {
			ch <- prometheus.MustNewConstMetric(c.xskEvents, prometheus.CounterValue, float64(e.v), queue, e.n)
		}
		for _, r := range []struct {
			n string
			v uint32
		}{{"fill", xs.FillRing}, {"completion", xs.CompRing}, {"rx", xs.RxRing}, {"tx", xs.TxRing}} {
			ch <- prometheus.MustNewConstMetric(c.ringEntries, prometheus.GaugeValue, float64(r.v), queue, r.n)
		}
		for _, k := range []struct {
			n string
			v uint64
		}{
			{"rx_dropped", xs.KernelRxDropped}, {"rx_invalid_descs", xs.KernelRxInvalidDescs},
			{"tx_invalid_descs", xs.KernelTxInvalidDescs}, {"rx_ring_full", xs.KernelRxRingFull},
			{"rx_fill_ring_empty_descs", xs.KernelRxFillRingEmptyDescs}, {"tx_ring_empty_descs", xs.KernelTxRingEmptyDescs},
		} {
			ch <- prometheus.MustNewConstMetric(c.kernelXSK, prometheus.CounterValue, float64(k.v), queue, k.n)
		}
	}
	// The engine verifies TCP checksums and headers before the TCP layer
	// sees a segment: its counts are Tcp:InCsumErrors and Tcp:InErrs.
	tcpSum.InCsumErrors.Add(engineSum["TcpInCsumErrors"])
	tcpSum.InErrs.Add(engineSum["TcpInErrs"])
	tcpSum.Each(func(group, name string, v uint64, gauge bool) {
		d := c.desc(tcp.MetricName(group, name, gauge), "Linux nstat "+group+":"+name+" summed over loops.")
		vt := prometheus.CounterValue
		if gauge {
			vt = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(d, vt, float64(v))
	})
	for _, name := range engineOrder {
		if name == "FramesRx" || name == "FramesTx" || name == "TcpInCsumErrors" || name == "TcpInErrs" {
			continue // per queue above, or folded into Tcp: below
		}
		gauge := name == "ArpCacheEntries"
		mn := "xdptcp_" + tcp.SnakeName(name)
		if !gauge {
			mn += "_total"
		}
		vt := prometheus.CounterValue
		if gauge {
			vt = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(c.desc(mn, "Engine counter "+name+" summed over loops (Linux nstat name where one exists)."), vt, float64(engineSum[name]))
	}
	// Counted on the loops without listing connections.
	states, listeners := c.st.Counts()
	for s := tcp.StateSynSent; s <= tcp.StateTimeWait; s++ {
		ch <- prometheus.MustNewConstMetric(c.connsByState, prometheus.GaugeValue, float64(states[s]), s.String())
	}
	for _, ln := range listeners {
		port, queue := strconv.Itoa(int(ln.Port)), strconv.Itoa(ln.Queue)
		ch <- prometheus.MustNewConstMetric(c.acceptQ, prometheus.GaugeValue, float64(ln.AcceptQ), port, queue)
		ch <- prometheus.MustNewConstMetric(c.synQ, prometheus.GaugeValue, float64(ln.SynQ), port, queue)
	}
}

// collectProxy exports the proxy handlers' counters, summed over ports.
func (c *collector) collectProxy(ch chan<- prometheus.Metric) {
	ps := proxyStats()
	ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_http_requests_total", "Requests the built-in http handler answered."), prometheus.CounterValue, float64(httpRequests.Load()))
	ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_proxy_connections_total", "Client connections the proxy handlers took."), prometheus.CounterValue, float64(ps.Conns))
	ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_proxy_active_connections", "Proxied client connections open now."), prometheus.GaugeValue, float64(ps.Active))
	ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_proxy_no_backend_total", "Clients reset because no backend could be reached."), prometheus.CounterValue, float64(ps.NoBackend))
	ch <- prometheus.MustNewConstMetric(c.desc("xdptcp_proxy_backend_failures_total", "Backend connection attempts that failed."), prometheus.CounterValue, float64(ps.BackendFailures))
	ch <- prometheus.MustNewConstMetric(c.proxyBytes, prometheus.CounterValue, float64(ps.BytesToBackend), "to_backend")
	ch <- prometheus.MustNewConstMetric(c.proxyBytes, prometheus.CounterValue, float64(ps.BytesToClient), "to_client")
}
