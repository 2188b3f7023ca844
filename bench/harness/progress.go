package harness

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress prints the current scenario, server, elapsed and estimated
// remaining time on stderr: rewritten in place on a terminal, one line per
// step otherwise.
type Progress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	mu       sync.Mutex
	planned  time.Duration // estimated total
	doneEst  time.Duration // estimates of finished steps
	stepEst  time.Duration
	stepFrom time.Time
	label    string
	stop     chan struct{}
}

// NewProgress starts the progress line for an estimated total.
func NewProgress(planned time.Duration) *Progress {
	p := &Progress{w: os.Stderr, start: time.Now(), planned: planned, stop: make(chan struct{})}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.print()
				}
			}
		}()
	}
	return p
}

// Step starts a step estimated to take est.
func (p *Progress) Step(label string, est time.Duration) {
	p.mu.Lock()
	if !p.stepFrom.IsZero() {
		p.doneEst += p.stepEst
	}
	p.label, p.stepEst, p.stepFrom = label, est, time.Now()
	p.mu.Unlock()
	p.print()
	if !p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *Progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start)
	inStep := min(time.Since(p.stepFrom), p.stepEst)
	rem := max(0, p.planned-p.doneEst-inStep)
	line := fmt.Sprintf("bench: %s · elapsed %s · remaining ~%s", p.label, el.Round(time.Second), rem.Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprint(p.w, line)
	}
}

// Logf prints a line of its own.
func (p *Progress) Logf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "bench: "+format+"\n", a...)
}

// Done ends the progress line.
func (p *Progress) Done() {
	close(p.stop)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
