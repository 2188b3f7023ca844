package main

// Packet capture: /debug/capture on the control endpoint streams pcapng of
// the frames the loops receive and transmit; `xdptcpd capture` asks for
// it, compiling a tcpdump FILTER with the local tcpdump (libpcap's
// compiler, the reference for the language) into classic BPF.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/bpf"

	"github.com/xdptcp/xdptcp"
)

// maxBPFInsns is the kernel's BPF_MAXINSNS for classic BPF.
const maxBPFInsns = 4096

// parseDDD reads a classic BPF program in `tcpdump -ddd` form: the
// instruction count, then one "code jt jf k" line per instruction.
func parseDDD(r io.Reader) ([]bpf.RawInstruction, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	var prog []bpf.RawInstruction
	want := -1
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if want < 0 {
			n, err := strconv.Atoi(line)
			if err != nil || n < 1 || n > maxBPFInsns {
				return nil, fmt.Errorf("filter program: bad instruction count %q", line)
			}
			want = n
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("filter program: bad instruction %q (want: code jt jf k)", line)
		}
		var v [4]uint64
		for i, s := range f {
			x, err := strconv.ParseUint(s, 10, 32)
			if err != nil || (i == 1 || i == 2) && x > 255 || i == 0 && x > 0xffff {
				return nil, fmt.Errorf("filter program: bad instruction %q", line)
			}
			v[i] = x
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
		if len(prog) > want {
			return nil, errors.New("filter program: more instructions than its count")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if want < 0 {
		return nil, nil // empty: no filter
	}
	if len(prog) != want {
		return nil, fmt.Errorf("filter program: %d instructions, its count says %d", len(prog), want)
	}
	return prog, nil
}

// serveCapture answers POST /debug/capture?count=N&snaplen=S&queue=Q with
// the filter program (tcpdump -ddd form, may be empty) as the body. The
// response streams pcapng until count frames were sent, the client goes
// away or the daemon stops; its trailers give the counts: X-Capture-Sent
// (frames in the stream), X-Capture-Captured (frames the rings kept, sent
// or not), X-Capture-Dropped (ring full) and X-Capture-Filtered.
func serveCapture(w http.ResponseWriter, r *http.Request, st *xdptcp.Stack) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST the filter program", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	num := func(name string, def, lo, hi int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			http.Error(w, fmt.Sprintf("%s must be %d..%d", name, lo, hi), http.StatusBadRequest)
			return 0, false
		}
		return n, true
	}
	count, ok1 := num("count", 0, 0, 1<<31-1)
	snaplen, ok2 := num("snaplen", 262144, 1, 262144)
	queue, ok3 := num("queue", -1, -1, 1<<16)
	if !ok1 || !ok2 || !ok3 {
		return
	}
	prog, err := parseDDD(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, err := st.StartCapture(xdptcp.CaptureOptions{Filter: prog, Snaplen: snaplen, Queue: queue})
	switch {
	case errors.Is(err, xdptcp.ErrCaptureBusy):
		http.Error(w, err.Error(), http.StatusConflict)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer c.Close()
	w.Header().Set("Trailer", "X-Capture-Sent, X-Capture-Captured, X-Capture-Dropped, X-Capture-Filtered")
	w.Header().Set("Content-Type", "application/x-pcapng")
	rc := http.NewResponseController(w)
	// A capture outlives the server's timeouts: no read deadline (the
	// server's background read would otherwise time out and cancel the
	// request's context), and the write deadline pushed forward as the
	// stream goes. Concurrent streams are bounded (adminServer.stream).
	rc.SetReadDeadline(time.Time{})
	extend := func() { rc.SetWriteDeadline(time.Now().Add(30 * time.Second)) }
	extend()
	pw, err := xdptcp.NewPcapngWriter(w, snaplen, "xdptcp")
	if err != nil {
		return
	}
	rc.Flush()
	ctx := r.Context()
	sent := 0
	for ; count == 0 || sent < count; sent++ {
		p, ok := c.TryReadPacket()
		if !ok {
			extend()
			if rc.Flush() != nil {
				break
			}
			// Wake up at least once a second to refresh the write
			// deadline while nothing is captured.
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			p, err = c.ReadPacket(wctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				sent--
				continue
			}
			if err != nil {
				break
			}
		}
		if pw.WritePacket(p) != nil {
			break
		}
	}
	c.Close()
	s := c.Stats()
	w.Header().Set("X-Capture-Sent", strconv.Itoa(sent))
	w.Header().Set("X-Capture-Captured", strconv.FormatUint(s.Captured, 10))
	w.Header().Set("X-Capture-Dropped", strconv.FormatUint(s.Dropped, 10))
	w.Header().Set("X-Capture-Filtered", strconv.FormatUint(s.Filtered, 10))
}

// runCapture is `xdptcpd capture`.
func runCapture(args []string, stderr io.Writer) int {
	fs := newFlagSet("xdptcpd capture", stderr)
	admin := fs.String("admin", defaultAdminAddr, "the daemon's control endpoint: a Unix socket path or HOST:PORT")
	tokenFile := fs.String("admin-token-file", "", "file holding the control token (a TCP control endpoint opened beyond loopback)")
	count := fs.Int("c", 0, "stop after this many frames (0: until interrupted)")
	snaplen := fs.Int("s", 262144, "keep at most this many bytes of each frame")
	queue := fs.Int("queue", -1, "capture only this queue (-1: all)")
	out := fs.String("w", "", "write pcapng to this file (- for stdout); without -w the stream goes to `tcpdump -n -r -`")
	ddd := fs.String("ddd", "", "read the filter as classic BPF from this file (`tcpdump -ddd` output) instead of compiling FILTER")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: xdptcpd capture [--admin ADDR] [-c COUNT] [-s SNAPLEN] [--queue Q] [-w FILE|-] [FILTER]\n\n"+
			"FILTER is a tcpdump expression, compiled by the local tcpdump (tcpdump -ddd -y EN10MB).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	expr := strings.Join(fs.Args(), " ")
	var program string
	switch {
	case *ddd != "" && expr != "":
		fmt.Fprintln(stderr, "xdptcpd capture: give FILTER or --ddd, not both")
		return 2
	case *ddd != "":
		b, err := os.ReadFile(*ddd)
		if err != nil {
			fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
			return 2
		}
		program = string(b)
	case expr != "":
		cmd := exec.Command("tcpdump", "-ddd", "-y", "EN10MB", "-s", strconv.Itoa(*snaplen), expr)
		var msg strings.Builder
		cmd.Stderr = &msg
		b, err := cmd.Output()
		if err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				fmt.Fprintln(stderr, "xdptcpd capture: compiling FILTER needs tcpdump (apt-get install tcpdump), or pass --ddd with a `tcpdump -ddd` program")
			} else {
				fmt.Fprintf(stderr, "xdptcpd capture: filter %q: %s\n", expr, strings.TrimSpace(msg.String()))
			}
			return 2
		}
		program = string(b)
	}
	if _, err := parseDDD(strings.NewReader(program)); err != nil {
		fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
		return 2
	}
	c, err := newAdminClient(*admin, *tokenFile, 0) // no overall timeout: the stream lasts
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
		return 2
	}
	q := url.Values{}
	q.Set("count", strconv.Itoa(*count))
	q.Set("snaplen", strconv.Itoa(*snaplen))
	q.Set("queue", strconv.Itoa(*queue))
	resp, err := c.post("/debug/capture", q, strings.NewReader(program))
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	var dst io.Writer
	var td *exec.Cmd
	switch *out {
	case "-":
		dst = stdout
	case "":
		td = exec.Command("tcpdump", "-n", "-r", "-")
		td.Stdout, td.Stderr = stdout, stderr
		pipe, err := td.StdinPipe()
		if err != nil {
			fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
			return 1
		}
		if err := td.Start(); err != nil {
			fmt.Fprintf(stderr, "xdptcpd capture: printing packets needs tcpdump (or use -w FILE): %v\n", err)
			return 1
		}
		defer func() { pipe.Close(); td.Wait() }()
		dst = pipe
	default:
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
			return 1
		}
		defer f.Close()
		dst = f
	}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		fmt.Fprintf(stderr, "xdptcpd capture: %v\n", err)
		return 1
	}
	t := resp.Trailer
	fmt.Fprintf(stderr, "%s packets captured\n%s packets dropped by the capture buffer\n%s packets refused by the filter\n",
		orDash(t.Get("X-Capture-Sent")), orDash(t.Get("X-Capture-Dropped")), orDash(t.Get("X-Capture-Filtered")))
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
