package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Rigs: how the veth pair of the direct topology delivers frames.
//
// On veth a frame is received on the core of its sender (veth_xmit hands
// it to netif_rx on the transmitting CPU; with XDP on the receiving end its
// NAPI runs there too): the server core pays for the client's TCP receive
// and the client core for the server's XDP copy. RigNAPI gives each side
// its own core: GRO on both veth ends makes each receive through NAPI,
// `threaded` moves that NAPI into a napi/DEV-N kthread, and the harness
// pins each end's kthreads to the CPUs of the side that receives (the
// server end's to the server CPUs, the client end's to the client CPUs).
// TSO is off on both ends: veth_xmit hands a frame to the peer's NAPI only
// if the *sending* device has no TSO feature (veth_skb_is_eligible_for_gro;
// the exception needs a sock_wfree destructor, which neither TCP's nor
// AF_XDP's skbs have), and otherwise falls back to netif_rx on the
// sender's core. Linux's TCP still builds GSO super-packets, segmented in
// software on the sending core before veth_xmit.
// RigLegacy leaves veth as it is (the figures of earlier reports).
const (
	RigNAPI   = "napi"
	RigLegacy = "legacy"
)

// Rigs lists the rigs.
var Rigs = []string{RigNAPI, RigLegacy}

// rigDescription is the report's note on the rig.
func rigDescription(rig string) string {
	switch rig {
	case RigNAPI:
		return "Rig `napi` (per-core): GRO on, TSO off (so veth hands every frame to the peer's NAPI) and threaded NAPI on both veth ends; each end's napi/DEV-N kthreads SCHED_FIFO 50 (as threaded IRQ handlers) and pinned to the CPUs of the side that receives (server end → server CPU, client end → client CPU), so each core pays for its own side's receive. Bridged scenarios (through the impairment bridge): the same on the server's and the client's ends facing the bridge; the bridge's own legs keep GRO off and receive in softirq on the sending core, so the server core also pays for the bridge's receive of what the server sends, for every server alike."
	case RigLegacy:
		return "Rig `legacy`: veth as it comes (no GRO, no threaded NAPI): a frame is received on its sender's core, so the server core pays for part of the client's receive and the other way round."
	}
	return "Rig " + rig
}

// startRig prepares the server's and the client's veth ends for o.Rig and,
// for RigNAPI, starts pinning their NAPI kthreads (Stop the pinner before
// the topology is closed; nil for other rigs).
func startRig(ctx context.Context, t *Topology, o *Options) (*napiPinner, error) {
	if err := setupRig(ctx, t, o.Rig); err != nil {
		return nil, fmt.Errorf("rig %s: %w", o.Rig, err)
	}
	if o.Rig != RigNAPI {
		return nil, nil
	}
	return startNAPIPinner(t, parseCPUs(o.ServerCPUs), parseCPUs(o.ClientCPUs), 250*time.Millisecond), nil
}

// setupRig prepares the server's and the client's veth ends for rig. In
// the bridged topology these are the ends facing the bridge's legs, whose
// transmit checksum offload, and with it TSO, NewBridged has switched off:
// the legs hand the bridge's frames to the ends' NAPI as the client and
// server ends of the direct topology hand each other theirs. The legs
// themselves keep GRO off (the bridge forwards frames, not merged
// super-packets), so the bridge receives in softirq on the sender's core.
func setupRig(ctx context.Context, t *Topology, rig string) error {
	switch rig {
	case RigLegacy, "":
		return nil
	case RigNAPI:
	default:
		return fmt.Errorf("unknown rig %q (%s)", rig, strings.Join(Rigs, ", "))
	}
	for _, d := range [][2]string{{t.Server, t.ServerIf}, {t.Client, t.ClientIf}} {
		if _, err := nsExec(ctx, d[0], "ethtool", "-K", d[1], "gro", "on", "tso", "off"); err != nil {
			return err
		}
		// `ip netns exec` mounts the namespace's own sysfs.
		if _, err := nsExec(ctx, d[0], "sh", "-c", "echo 1 > /sys/class/net/"+d[1]+"/threaded"); err != nil {
			return fmt.Errorf("threaded NAPI on %s: %w", d[1], err)
		}
	}
	return nil
}

// napiThreads returns the ids of the napi/DEV-N kthreads of dev. Kernel
// threads' names are cut at 15 bytes, so dev names must be short and
// unique on the host (the topology puts the bench's pid in them).
func napiThreads(dev string) []int {
	prefix := "napi/" + dev + "-"
	if len(prefix) > 15 {
		prefix = prefix[:15]
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(string(b)), prefix) {
			out = append(out, pid)
		}
	}
	return out
}

// napiPriority is the SCHED_FIFO priority of the pinned NAPI kthreads:
// that of Linux's threaded interrupt handlers (MAX_RT_PRIO/2). Without it
// a NAPI kthread waits behind the busy processes of its core like any
// other task, while NAPI in softirq context (the legacy rig, and a NIC's
// interrupt path) runs ahead of them; veth's 256-frame ring then overflows
// and drops (a lost SYN costs a 1 s retransmission).
const napiPriority = 50

// pinThreads sets the CPU affinity of tids to cpus and makes them
// SCHED_FIFO at napiPriority.
func pinThreads(tids []int, cpus []int) {
	if len(cpus) == 0 {
		return
	}
	set := cpuSet(cpus)
	for _, tid := range tids {
		unix.SchedSetaffinity(tid, &set)
		unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: napiPriority}, 0)
	}
}

// PinSelf keeps this process off the server's core: it sets the affinity
// of every thread of the process to cpus (a taskset list: the clients'),
// and the threads the Go runtime starts later inherit it from the thread
// that clones them. Unpinned, the harness's sampling (/proc reads every
// half second, /metrics scrapes) landed on the server core: 1.6 % of it
// in a BBR download through the bridge, where a Linux server's own work
// is about 5 %. Children it starts through taskset get their own CPUs.
func PinSelf(cpus string) error {
	set := cpuSet(parseCPUs(cpus))
	if set.Count() == 0 {
		return fmt.Errorf("pin: no CPU in %q", cpus)
	}
	tids, err := taskIDs("self")
	if err != nil {
		return err
	}
	for _, tid := range tids {
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d: %w", tid, err)
		}
	}
	return nil
}

// cpuSet is the affinity mask of cpus.
func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// taskIDs lists the threads of process pid ("self" for this one) from
// /proc/PID/task.
func taskIDs(pid string) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// napiPinner keeps the NAPI kthreads of the topology's veth ends pinned:
// kthreads appear when threaded NAPI is switched on and again when an XDP
// program is attached (xdptcpd, the gVisor peer, xdptcp-load), so it
// re-scans every interval until stopped.
type napiPinner struct {
	t                      *Topology
	serverCPUs, clientCPUs []int
	stop                   chan struct{}
	wg                     sync.WaitGroup
}

func startNAPIPinner(t *Topology, serverCPUs, clientCPUs []int, every time.Duration) *napiPinner {
	p := &napiPinner{t: t, serverCPUs: serverCPUs, clientCPUs: clientCPUs, stop: make(chan struct{})}
	p.pin()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tk.C:
				p.pin()
			}
		}
	}()
	return p
}

func (p *napiPinner) pin() {
	pinThreads(napiThreads(p.t.ServerIf), p.serverCPUs)
	pinThreads(napiThreads(p.t.ClientIf), p.clientCPUs)
}

func (p *napiPinner) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
}

// taskSched is a task's time on a CPU in ns and how many times it was
// put on one (the first and third fields of /proc/TID/schedstat,
// sum_exec_runtime and pcount; present without CONFIG_SCHEDSTATS).
// Without CONFIG_IRQ_TIME_ACCOUNTING the time includes the softirqs that
// ran on the task's stack.
func taskSched(path string) (taskStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return taskStat{}, false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return taskStat{}, false
	}
	ns, err1 := strconv.ParseInt(f[0], 10, 64)
	runs, err2 := strconv.ParseInt(f[2], 10, 64)
	return taskStat{ns, runs}, err1 == nil && err2 == nil
}

// taskStat is a task's CPU time (ns) and the times it was switched in.
type taskStat struct{ ns, runs int64 }

// serverThreadTimes maps each thread of the server process and each NAPI
// kthread of the server's veth end to its CPU time and switches so far.
func serverThreadTimes(pid int, dev string) map[int]taskStat {
	out := map[int]taskStat{}
	tids, _ := taskIDs(strconv.Itoa(pid))
	for _, tid := range tids {
		if v, ok := taskSched(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid)); ok {
			out[tid] = v
		}
	}
	for _, tid := range napiThreads(dev) {
		if v, ok := taskSched(fmt.Sprintf("/proc/%d/schedstat", tid)); ok {
			out[tid] = v
		}
	}
	return out
}

// serverCPUProbe measures what a run cost the server side: the CPU time of
// the server's threads and its veth end's NAPI kthreads (per-thread, so
// other tenants of the core are left out), and the busy time of the server
// cores from /proc/stat (everything that ran there, softirq included).
type serverCPUProbe struct {
	pid     int
	dev     string
	cpus    []int
	threads map[int]taskStat
	stat    map[int]CPUTimes
}

func startServerCPUProbe(pid int, dev string, cpus []int) *serverCPUProbe {
	return &serverCPUProbe{pid: pid, dev: dev, cpus: cpus, threads: serverThreadTimes(pid, dev), stat: readProcStat()}
}

// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

// Stop returns the server's thread time, the server cores' busy time (ns)
// and how many times the server's threads were switched in, since the
// start. Threads that started during the run count from 0; threads that
// ended during the run are lost (Go does not end threads; NAPI kthreads
// live as long as the device's NAPI).
func (p *serverCPUProbe) Stop() (threadsNS, coreBusyNS, switches int64) {
	for tid, v := range serverThreadTimes(p.pid, p.dev) {
		threadsNS += v.ns - p.threads[tid].ns
		switches += v.runs - p.threads[tid].runs
	}
	st := readProcStat()
	for _, c := range p.cpus {
		a, b := p.stat[c], st[c]
		coreBusyNS += int64(b.Busy-a.Busy) * (1e9 / userHZ)
	}
	return threadsNS, coreBusyNS, switches
}
