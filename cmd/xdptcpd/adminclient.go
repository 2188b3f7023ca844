package main

// The client side of the control endpoint: `xdptcpd ss` and `capture`.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// adminClient talks HTTP to a daemon's control endpoint: a Unix socket
// (an address with a "/") or HOST:PORT.
type adminClient struct {
	hc    *http.Client
	base  string // "http://HOST:PORT" or "http://xdptcpd" for a Unix socket
	token string // sent as "Authorization: Bearer TOKEN" when set
}

func newAdminClient(addr, tokenFile string, timeout time.Duration) (*adminClient, error) {
	c := &adminClient{hc: &http.Client{Timeout: timeout}}
	if strings.Contains(addr, "/") {
		path := addr
		c.base = "http://xdptcpd"
		c.hc.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
	} else {
		c.base = "http://" + addr
	}
	if tokenFile != "" {
		tok, err := readTokenFile(tokenFile)
		if err != nil {
			return nil, err
		}
		c.token = tok
	}
	return c, nil
}

func (c *adminClient) get(path string, q url.Values) (*http.Response, error) {
	return c.do("GET", path, q, nil)
}

func (c *adminClient) post(path string, q url.Values, body io.Reader) (*http.Response, error) {
	return c.do("POST", path, q, body)
}

func (c *adminClient) do(method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// runSS prints the connections of a running daemon, page by page
// (/debug/conns?limit=&after=), like `ss -tan`; -i adds TCP_INFO as
// `ss -ti`.
func runSS(args []string, stderr io.Writer) int {
	fs := newFlagSet("xdptcpd ss", stderr)
	admin := fs.String("admin", defaultAdminAddr, "the daemon's control endpoint: a Unix socket path or HOST:PORT")
	tokenFile := fs.String("admin-token-file", "", "file holding the control token (a TCP control endpoint opened beyond loopback)")
	state := fs.String("state", "", "only connections in this state (e.g. ESTABLISHED, TIME-WAIT)")
	asJSON := fs.Bool("json", false, "print JSON (/debug/conns?format=json) instead of the ss-like table")
	info := fs.Bool("i", false, "show TCP_INFO as `ss -ti` does (rtt, cwnd, bytes, retransmissions, ...)")
	fs.BoolVar(info, "info", false, "same as -i")
	limit := fs.Int("limit", 0, "at most this many connections (0: all, fetched 1000 at a time)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := newAdminClient(*admin, *tokenFile, 30*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd ss: %v\n", err)
		return 2
	}
	page := 1000
	if *limit > 0 && *limit < page {
		page = *limit
	}
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *asJSON {
		q.Set("format", "json")
	}
	if *info {
		q.Set("info", "1")
	}
	var all []json.RawMessage
	got, first := 0, true
	for {
		q.Set("limit", fmt.Sprint(page))
		resp, err := c.get("/debug/conns", q)
		if err != nil {
			fmt.Fprintf(stderr, "xdptcpd ss: %v\n", err)
			return 1
		}
		next := resp.Header.Get("X-Next-After")
		if *asJSON {
			var part []json.RawMessage
			err = json.NewDecoder(resp.Body).Decode(&part)
			all = append(all, part...)
			got += len(part)
		} else {
			var body []byte
			body, err = io.ReadAll(resp.Body)
			lines := strings.SplitAfter(string(body), "\n")
			for _, l := range lines {
				if strings.HasPrefix(l, "# more connections follow") || (!first && strings.HasPrefix(l, "State")) {
					continue
				}
				if l != "" && !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "State") {
					got++
				}
				io.WriteString(stdout, l)
			}
		}
		resp.Body.Close()
		if err != nil {
			fmt.Fprintf(stderr, "xdptcpd ss: %v\n", err)
			return 1
		}
		first = false
		if next == "" || (*limit > 0 && got >= *limit) {
			break
		}
		q.Set("after", next)
		if *limit > 0 {
			page = min(page, *limit-got)
		}
	}
	if *asJSON {
		if all == nil {
			all = []json.RawMessage{}
		}
		json.NewEncoder(stdout).Encode(all)
	}
	return 0
}

// defaultAdminAddr is where `xdptcpd ss` and `capture` look for the
// control endpoint: the daemon's default control socket.
const defaultAdminAddr = defaultAdminSocket

// readTokenFile reads a control token: the file's content without
// surrounding white space. The file must not be readable by group or
// others (like ssh's private keys), and the token must be at least 16
// bytes.
func readTokenFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("admin token file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin token file %s is accessible by group or others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("admin token file %s: the token must be at least 16 characters", path)
	}
	return tok, nil
}

// runDrain asks a running daemon to drain (POST /drain): /healthz answers
// 503, new connections go to cluster peers, and the daemon exits 0 once
// its connections are gone (or after its --grace). With --wait it returns
// only once the daemon stopped answering (a Kubernetes preStop hook).
func runDrain(args []string, stderr io.Writer) int {
	fs := newFlagSet("xdptcpd drain", stderr)
	admin := fs.String("admin", defaultAdminAddr, "the daemon's control endpoint: a Unix socket path or HOST:PORT")
	tokenFile := fs.String("admin-token-file", "", "file holding the control token (a TCP control endpoint opened beyond loopback)")
	wait := fs.Duration("wait", 0, "then wait up to this long for the daemon to exit (0: do not wait)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := newAdminClient(*admin, *tokenFile, 10*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd drain: %v\n", err)
		return 2
	}
	resp, err := c.post("/drain", nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd drain: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if *wait <= 0 {
		return 0
	}
	deadline := time.Now().Add(*wait)
	for time.Now().Before(deadline) {
		resp, err := c.hc.Get(c.base + "/healthz")
		if err != nil {
			return 0 // gone: the endpoint closed with the daemon
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(stderr, "xdptcpd drain: the daemon still runs after %v\n", *wait)
	return 1
}
