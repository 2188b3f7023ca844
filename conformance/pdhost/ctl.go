package pdhost

import (
	"bufio"
	"net"
	"os"
	"strings"
)

// ServeControl answers sysctl requests on a Unix socket at path, one line
// each: "set NAME VALUE" or "get NAME"; the reply is "ok [VALUE]" or
// "err MESSAGE". The sysctl shim (conformance/cmd/pdsysctl) that
// packetdrill's settings scripts run instead of sysctl(8) talks to it, so
// those scripts set xdptcp's settings by their Linux names. It returns a
// function that stops serving and removes the socket.
func (h *Host) ServeControl(path string) (stop func(), err error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.control(c)
		}
	}()
	return func() { ln.Close(); os.Remove(path) }, nil
}

func (h *Host) control(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		op, rest, _ := strings.Cut(sc.Text(), " ")
		var reply string
		switch op {
		case "set":
			name, value, _ := strings.Cut(rest, " ")
			if err := h.Sysctl(name, value); err != nil {
				reply = "err " + err.Error()
			} else {
				reply = "ok"
			}
		case "get":
			if v, err := h.SysctlGet(rest); err != nil {
				reply = "err " + err.Error()
			} else {
				reply = "ok " + v
			}
		default:
			reply = "err unknown request"
		}
		if _, err := c.Write([]byte(reply + "\n")); err != nil {
			return
		}
	}
}
