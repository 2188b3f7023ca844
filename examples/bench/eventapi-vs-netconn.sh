#!/bin/sh
# Bench (not a test): requests/s of the event API (xdptcpd's built-in http
# handler) against the net.Conn path (examples/nethttp: net/http, and
# --raw: a plain goroutine-per-connection net.Conn loop), wrk with 1 thread
# and 64 connections in a client namespace pinned to CPU 0, the server
# pinned to CPU 1. Needs root. Usage: examples/bench/eventapi-vs-netconn.sh [seconds]
set -eu
DUR=${1:-10}
cd "$(dirname "$0")/../.."
BIN=$(mktemp -d)
go build -o "$BIN/xdptcpd" ./cmd/xdptcpd
go build -o "$BIN/nethttp" ./examples/nethttp
S=xbs$$ C=xbc$$ A=xba$$ B=xbb$$
cleanup() { ip netns del $S 2>/dev/null || true; ip netns del $C 2>/dev/null || true; rm -rf "$BIN"; }
trap cleanup EXIT
ip netns add $S; ip netns add $C
ip link add $A type veth peer name $B
ip link set $A netns $S; ip link set $B netns $C
ip -n $S addr add 198.18.0.1/24 dev $A; ip -n $C addr add 198.18.0.2/24 dev $B
ip -n $S link set $A up; ip -n $C link set $B up
ip -n $S link set lo up; ip -n $C link set lo up
ip netns exec $C ethtool -K $B tx off >/dev/null
run() { # name, server command...
	name=$1; shift
	ip netns exec $S taskset -c 1 "$@" >"$BIN/log" 2>&1 &
	pid=$!
	i=0
	until ip netns exec $C curl -s --max-time 1 http://198.18.0.1:8080/ >/dev/null 2>&1; do
		i=$((i+1)); [ $i -lt 100 ] || { echo "$name did not start"; cat "$BIN/log"; kill $pid; return; }
		sleep 0.1
	done
	ka=$(ip netns exec $C taskset -c 0 wrk -t1 -c64 -d${DUR}s http://198.18.0.1:8080/ | awk '/Requests\/sec/ {print $2}')
	cl=$(ip netns exec $C taskset -c 0 wrk -t1 -c64 -d${DUR}s -H 'Connection: close' http://198.18.0.1:8080/ | awk '/Requests\/sec/ {print $2}')
	kill -INT $pid; wait $pid 2>/dev/null || true
	printf '%-36s %12s %12s\n' "$name" "$ka" "$cl"
	printf '{"server":"%s","keepalive_rps":%s,"close_rps":%s}\n' "$name" "${ka:-0}" "${cl:-0}" >>"${JSON:-/dev/null}"
}
printf '%-36s %12s %12s\n' server keep-alive/s close/s
run "event API (xdptcpd http)" "$BIN/xdptcpd" --iface $A --addr 198.18.0.1/24 --listen 8080=http
run "net.Conn raw loop (nethttp --raw)" "$BIN/nethttp" --iface $A --addr 198.18.0.1/24 --port 8080 --raw
run "net.Conn + net/http (nethttp)" "$BIN/nethttp" --iface $A --addr 198.18.0.1/24 --port 8080
