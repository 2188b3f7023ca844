// Package harness is the bench harness behind `make bench`: it builds the
// topology (server and client namespaces joined by a veth pair, and a
// middle namespace running the impairment bridge for loss and delay), runs
// each server under test pinned to its CPU, drives it with clients pinned
// to theirs, samples every core's use from /proc/stat during every run, and
// writes bench/results/<timestamp>/{report.md,results.json,*.svg}.
//
// Layout: topo.go (namespaces, veths, stale-run cleanup), proc.go (pinned
// processes in a namespace), servers.go (xdptcpd and the peers),
// scenarios.go (what is measured), wrk.go (running wrk and parsing its
// output), cpu.go (/proc/stat sampling), stats.go (median and spread),
// report.go (report.md and results.json), svg.go (hand-rolled SVG plots),
// progress.go (the progress line on stderr).
//
// Figures on a shared 2-core machine are noisy: the report gives the median
// of several runs with their spread, and ratios to Linux measured in the same
// run, which are the figures to compare.
package harness
