#!/bin/sh
# Settings of xdptcp's own conformance scripts, the same for both stacks:
# against Linux it runs in the script's fresh network namespace (which
# starts from the host's values), against xdptcp sysctl is the adapter's
# shim that sets the xdptcp setting of the same name. Linux knobs xdptcp
# does not have are skipped by the shim (-e). Then the script's own
# NAME=VALUE arguments.
sysctl -q net.ipv4.tcp_rmem="4096 131072 6291456"
sysctl -q net.ipv4.tcp_wmem="4096 16384 4194304"
sysctl -q net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1
sysctl -q net.ipv4.tcp_syncookies=1 net.ipv4.tcp_abort_on_overflow=0
sysctl -q net.ipv4.tcp_syn_retries=6 net.ipv4.tcp_synack_retries=5 net.ipv4.tcp_orphan_retries=0
sysctl -q net.ipv4.tcp_fin_timeout=60
# Linux's default, not the host's (BBR here): a socket that BBR started
# keeps BBR's pacing after TCP_CONGESTION switches it to another
# controller (bbr_init sets sk_pacing_status; nothing clears it).
sysctl -q net.ipv4.tcp_congestion_control=cubic
sysctl -q net.ipv4.tcp_keepalive_time=7200 net.ipv4.tcp_keepalive_intvl=75 net.ipv4.tcp_keepalive_probes=9
# tcp_syn_linear_timeouts=0: the SYN schedule doubles from the first SYN
# (Linux 6.18's default is 4; syn-linear-timeouts.pkt and
# syn-retries-default.pkt set it).
sysctl -q -e net.ipv4.tcp_ecn=0 net.ipv4.tcp_syn_linear_timeouts=0 net.ipv4.tcp_slow_start_after_idle=0 net.ipv4.tcp_early_retrans=0 >/dev/null 2>&1
for kv in "$@"; do
	sysctl -q "$kv" || exit 1
done
exit 0
