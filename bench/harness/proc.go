package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the last MiB or so
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a long-running process in a namespace, pinned with taskset. Its
// pid is the program's own: taskset and `ip netns exec` exec into it.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  syncBuf
	done chan struct{}
	err  error
}

// pinned is the command line running bin in ns on cpus.
func pinned(ns, cpus, bin string, args ...string) []string {
	a := []string{}
	if cpus != "" {
		a = append(a, "taskset", "-c", cpus)
	}
	a = append(a, "ip", "netns", "exec", ns, bin)
	return append(a, args...)
}

// Start starts bin in ns on cpus, in its own process group.
func Start(name, ns, cpus, bin string, args ...string) (*Proc, error) {
	cl := pinned(ns, cpus, bin, args...)
	p := &Proc{Name: name, cmd: exec.Command(cl[0], cl[1:]...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output is what the process printed.
func (p *Proc) Output() string { return p.out.String() }

// Exited reports an early exit.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v\n%s", p.Name, p.err, tail(p.out.String(), 2000))
	default:
		return nil
	}
}

// Stop sends SIGTERM to the group, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New(p.Name + " killed after SIGTERM timeout")
	}
}

// RunPinned runs bin in ns on cpus to completion, bounded by timeout and
// ctx (its process group is killed on either), and returns its stdout;
// stderr goes into the error.
func RunPinned(ctx context.Context, timeout time.Duration, ns, cpus, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl := pinned(ns, cpus, bin, args...)
	cmd := exec.Command(cl[0], cl[1:]...)
	var stdout, stderr syncBuf
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return stdout.String(), fmt.Errorf("%s: %v: %s", strings.Join(cl, " "), err, tail(stderr.String()+stdout.String(), 1000))
		}
		return stdout.String(), nil
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		return stdout.String(), fmt.Errorf("%s: %w", cl[len(cl)-len(args)-1], ctx.Err())
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// RSS is the resident set size of pid in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	b, err := readFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb)
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}
