package xdptcp

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/memlink"
)

// TestHTTPServe: net/http's server on a Listener, its client dialing
// through Stack.DialContext; and the same over tls.NewListener.
func TestHTTPServe(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Hello, World!") })

	ln := listenB(t, b, "8080")
	go http.Serve(ln, mux)
	// httptest's certificate, for the TLS listener.
	ts := httptest.NewUnstartedServer(mux)
	ts.StartTLS()
	cert := ts.TLS.Certificates[0]
	ts.Close()
	tln := listenB(t, b, "8443")
	go http.Serve(tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{cert}}), mux)

	tr := &http.Transport{
		DialContext:         func(ctx context.Context, n, addr string) (net.Conn, error) { return a.DialContext(ctx, n, addr) },
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		MaxIdleConnsPerHost: 4,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, url := range []string{"http://198.18.0.2:8080/", "https://198.18.0.2:8443/"} {
		for i := 0; i < 50; i++ {
			resp, err := cl.Get(url)
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "Hello, World!" {
				t.Fatalf("%s: %q %v", url, body, err)
			}
		}
	}
}
