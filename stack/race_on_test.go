//go:build race

package stack

// raceEnabled: the race detector's instrumentation allocates, so the
// zero-allocation tests only hold without it.
const raceEnabled = true
