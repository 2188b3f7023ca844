//go:build !race

package xdptcp

const raceEnabled = false
