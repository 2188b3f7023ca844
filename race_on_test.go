//go:build race

package xdptcp

// raceEnabled: the race detector's instrumentation allocates (channel
// and goroutine hand-offs among them), so the zero-allocation tests only
// hold without it.
const raceEnabled = true
