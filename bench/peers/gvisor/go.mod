module github.com/xdptcp/xdptcp/bench/peers/gvisor

go 1.26.0

require (
	github.com/cilium/ebpf v0.22.0
	golang.org/x/sys v0.50.0
	gvisor.dev/gvisor v0.0.0-20250205023644-9414b50a5633
)

require (
	github.com/google/btree v1.1.2 // indirect
	github.com/xdptcp/xdptcp v0.0.0
	golang.org/x/time v0.7.0 // indirect
)

replace github.com/xdptcp/xdptcp => ../../..
