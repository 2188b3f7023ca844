package xsk

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Names of the filter's maps and program.
const (
	mapXsks    = "xsks"      // XSKMAP: rx queue index -> AF_XDP socket
	mapAddrs   = "addrs"     // HASH: IPv4 address (4 bytes, network order) -> addrValue
	mapPorts   = "ports"     // HASH: portKey -> 1
	mapWatch   = "arp_watch" // HASH: IPv4 address (network order) -> 1: ARP replies from it are ours
	mapAddrs6  = "addrs6"    // HASH: IPv6 address (16 bytes) -> addrValue
	mapPorts6  = "ports6"    // HASH: portKey6 -> 1
	mapWatch6  = "nd_watch"  // HASH: IPv6 address -> 1: neighbour advertisements for it are ours
	progFilter = "xdptcp_filter"

	// MaxQueues is the number of XSKMAP slots (rx queue indices 0..MaxQueues-1).
	MaxQueues = 256
	// MaxAddrs bounds the served addresses.
	MaxAddrs = 256
	// MaxPorts bounds the served (address, port) pairs.
	MaxPorts = 4096
	// MaxARPWatch bounds the addresses whose ARP replies are ours at once
	// (the neighbours xdptcp is resolving; see Filter.WatchARP).
	MaxARPWatch = 1024
)

// XDP verdicts (enum xdp_action, include/uapi/linux/bpf.h).
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpTx       = 3
	xdpRedirect = 4
)

// Offsets in struct xdp_md (include/uapi/linux/bpf.h).
const (
	xdpMdData         = 0
	xdpMdDataEnd      = 4
	xdpMdDataMeta     = 8
	xdpMdRxQueueIndex = 16
)

// Frame layout the program reads (all offsets from the frame start).
const (
	ethLen       = 14 // destination, source, EtherType (IEEE 802.3)
	ethTypeOff   = 12
	etherTypeARP = 0x0806
	etherTypeIP4 = 0x0800

	arpLen     = 28     // RFC 826 for Ethernet/IPv4: htype, ptype, hlen, plen, oper, sha, spa, tha, tpa
	arpHtype   = ethLen // hardware type, 1 = Ethernet
	arpPtype   = ethLen + 2
	arpHlen    = ethLen + 4
	arpOperOff = ethLen + 6  // operation: 1 request, 2 reply
	arpSpaOff  = ethLen + 14 // sender protocol address
	arpTpaOff  = ethLen + 24 // target protocol address
	arpRequest = 1
	arpReply   = 2
	ipMinLen   = 20 // RFC 791: IHL >= 5 words

	etherTypeIP6 = 0x86dd
	ip6Len       = 40          // RFC 8200 fixed header
	ip6NextHdr   = ethLen + 6  // next header
	ip6DstOff    = ethLen + 24 // destination address, 16 bytes
	ip6Upper     = ethLen + ip6Len
	protoICMP6   = 58
	icmp6Echo    = 128 // RFC 4443 echo request
	icmp6NS      = 135 // RFC 4861 neighbour solicitation
	icmp6NA      = 136 // RFC 4861 neighbour advertisement

	icmpUnreach       = 3  // RFC 792 destination unreachable (fragmentation needed is code 4)
	icmpTimeExceeded  = 11 // RFC 792
	icmpParamProblem  = 12 // RFC 792
	icmp6ParamProblem = 4  // RFC 4443: types 1-4 are errors (2: packet too big)
	ndTargetOff       = ip6Upper + 8
	ndMinLen          = 24 // type, code, checksum, flags/reserved, target
	ipVerIHL          = ethLen
	ipFragOff         = ethLen + 6 // flags (3 bits) + fragment offset (13 bits)
	ipProtoOff        = ethLen + 9
	ipDstOff          = ethLen + 16
	tcpMinLen         = 20 // RFC 9293 3.1: data offset >= 5 words
	icmpMinLen        = 8  // RFC 792 echo: type, code, checksum, identifier, sequence
	protoICMP         = 1
	protoTCP          = 6
	icmpEcho          = 8 // RFC 792 echo request type
)

// addrValue is the value of the addrs map: the client port range of a
// served address, host byte order; Lo > Hi (the default 1, 0) means none.
type addrValue struct {
	Lo, Hi uint16
}

// portKey is the key of the ports map: the address and port exactly as they
// appear in the packet (network byte order), padded to 8 bytes.
type portKey struct {
	Addr [4]byte
	Port [2]byte
	Pad  [2]byte
}

func newPortKey(addr [4]byte, port uint16) portKey {
	return portKey{Addr: addr, Port: [2]byte{byte(port >> 8), byte(port)}}
}

// portKey6 is the key of the ports6 map: an IPv6 address and port as in
// the packet, padded to 24 bytes.
type portKey6 struct {
	Addr [16]byte
	Port [2]byte
	Pad  [6]byte
}

func newPortKey6(addr [16]byte, port uint16) portKey6 {
	return portKey6{Addr: addr, Port: [2]byte{byte(port >> 8), byte(port)}}
}

// filterSpec returns the maps and the program. fallback is the flags
// argument of bpf_redirect_map, the verdict when the XSKMAP slot is empty:
// XDP_PASS in production; tests load a variant with another value to tell
// "ours, no socket" from "not ours" (both would be XDP_PASS otherwise).
// mode is how the receive time goes before each redirected frame
// (filterInstructions).
func filterSpec(fallback int32, mode rxStamp) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			mapXsks:   {Name: mapXsks, Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: MaxQueues},
			mapAddrs:  {Name: mapAddrs, Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: MaxAddrs},
			mapPorts:  {Name: mapPorts, Type: ebpf.Hash, KeySize: 8, ValueSize: 1, MaxEntries: MaxPorts},
			mapWatch:  {Name: mapWatch, Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: MaxARPWatch},
			mapAddrs6: {Name: mapAddrs6, Type: ebpf.Hash, KeySize: 16, ValueSize: 4, MaxEntries: MaxAddrs},
			mapPorts6: {Name: mapPorts6, Type: ebpf.Hash, KeySize: 24, ValueSize: 1, MaxEntries: MaxPorts},
			mapWatch6: {Name: mapWatch6, Type: ebpf.Hash, KeySize: 16, ValueSize: 1, MaxEntries: MaxARPWatch},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			progFilter: {
				Name:    progFilter,
				Type:    ebpf.XDP,
				License: "Dual MIT/GPL",
				// xdp.frags (BPF_F_XDP_HAS_FRAGS): the program copes with
				// multi-buffer frames (it reads only the headers, which
				// are in the first buffer; data_end ends that buffer), so
				// the kernel lets it run on an MTU larger than a page
				// (veth refuses native XDP above that otherwise) and
				// redirects such frames to a multi-buffer AF_XDP socket.
				Flags:        unix.BPF_F_XDP_HAS_FRAGS,
				Instructions: filterInstructions(fallback, mode),
			},
		},
	}
}

// filterInstructions is the XDP program. Registers: R6 = ctx for the whole
// program (callee-saved across helper calls), R2 = packet start, R3 = packet
// end, R7 = IPv4 destination address or ARP target protocol address
// (network order, as loaded), R8 = TCP destination port in host order or
// ARP sender protocol address, R9 = IPv4 header length in bytes. Every
// packet read is preceded by a bounds check against data_end (the verifier
// rejects the program otherwise); any failed check is XDP_PASS.
//
// Every redirected packet gets its receive time (bpf_ktime_get_ns) and its
// complement as 16 bytes just before it (RxTimestamp): XDP metadata, or,
// where the kernel refuses bpf_xdp_adjust_meta, a prefix of the packet
// (mode); R7 to R9 are reused for that at the end, where nothing else
// needs them.
//
// ARP (Ethernet/IPv4 only). The kernel normally keeps the served address
// too (SSH and the ports xdptcp does not serve), so ARP is split by who
// asked, since one frame cannot go to both:
//   - request (oper 1) for a served target: ours. xdptcp answers with the
//     interface's MAC, the one the kernel would give, and learns the sender.
//   - reply (oper 2) to a served target: ours only if its sender is in
//     arp_watch, i.e. xdptcp sent the request it answers (Filter.WatchARP);
//     otherwise it answers the kernel's own request and is XDP_PASS, or the
//     kernel's resolutions (for its SSH replies, ...) would never complete.
//     An RFC 5227 probe (spa 0.0.0.0) for a served target is a request,
//     so ours; Linux answers those too (arp_process).
//   - gratuitous ARP (spa == tpa: an RFC 5227 announcement, or another host
//     claiming our address), other operations, other targets: XDP_PASS,
//     the kernel's neighbour cache and conflict handling see them.
//
// IPv6, split the same way; only packets whose fixed header's next header
// is TCP or ICMPv6 are looked at (extension headers: XDP_PASS, the
// kernel's), and the IPv6 address is copied to the stack as the key:
//   - TCP to a served (address, port) in ports6, or to a served address
//     (addrs6) with a destination port in its client range: ours.
//   - ICMPv6 echo request to a served address: ours.
//   - neighbour solicitation whose target is served: ours (xdptcp answers
//     with the interface's MAC, as the kernel would).
//   - neighbour advertisement whose target is in nd_watch (xdptcp is
//     resolving it, Filter.WatchND): ours; otherwise the kernel's.
//   - everything else (router advertisements, MLD, other ICMPv6, other
//     protocols, fragments): XDP_PASS.
func filterInstructions(fallback int32, mode rxStamp) asm.Instructions {
	const (
		R0, R1, R2, R3, R4, R5 = asm.R0, asm.R1, asm.R2, asm.R3, asm.R4, asm.R5
		R6, R7, R8, R9, FP     = asm.R6, asm.R7, asm.R8, asm.R9, asm.R10
	)
	// R1 = &map, resolved to the map's fd when the collection loads.
	ports := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapPorts) }
	addrs := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapAddrs) }
	xsks := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapXsks) }
	watch := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapWatch) }
	ports6 := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapPorts6) }
	addrs6 := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapAddrs6) }
	watch6 := func() asm.Instruction { return asm.LoadMapPtr(R1, 0).WithReference(mapWatch6) }
	// copy16 copies 16 bytes at R2+off (bounds already checked) to the
	// stack at FP-24, the IPv6 key.
	copy16 := func(off int16) []asm.Instruction {
		var is []asm.Instruction
		for i := int16(0); i < 16; i += 4 {
			is = append(is, asm.LoadMem(R0, R2, off+i, asm.Word), asm.StoreMem(FP, -24+i, R0, asm.Word))
		}
		return is
	}
	ip6 := asm.Instructions{
		asm.Mov.Reg(R4, R2).WithSymbol("ip6"),     // IPv6: R4 = data
		asm.Add.Imm(R4, ip6Upper),                 // R4 = end of the fixed header
		asm.JGT.Reg(R4, R3, "pass"),               // truncated IPv6 header: pass
		asm.LoadMem(R5, R2, ip6NextHdr, asm.Byte), // R5 = next header
	}
	ip6 = append(ip6, copy16(ip6DstOff)...) // key = destination address
	ip6 = append(ip6,
		asm.JEq.Imm(R5, protoICMP6, "icmp6"),                     // ICMPv6
		asm.JNE.Imm(R5, protoTCP, "pass"),                        // not TCP (extension headers included): pass
		asm.Mov.Reg(R4, R2),                                      // TCP:
		asm.Add.Imm(R4, ip6Upper+tcpMinLen),                      // R4 = end of a minimal TCP header
		asm.JGT.Reg(R4, R3, "pass"),                              // truncated: pass
		asm.LoadMem(R8, R2, ip6Upper+2, asm.Half),                // R8 = destination port (network order)
		asm.StoreMem(FP, -8, R8, asm.Half).WithSymbol("tcp6key"), // key.Port (the address is at FP-24)
		asm.StoreImm(FP, -6, 0, asm.Half),                        // key.Pad
		asm.StoreImm(FP, -4, 0, asm.Word),                        //
		asm.HostTo(asm.BE, R8, asm.Half),                         // R8 = destination port, host order
		ports6(),                                                 // R1 = ports6 map
		asm.Mov.Reg(R2, FP),                                      // R2 = &key
		asm.Add.Imm(R2, -24),                                     //
		asm.FnMapLookupElem.Call(),                               // R0 = ports6[key]
		asm.JNE.Imm(R0, 0, "redirect"),                           // served (address, port): ours
		addrs6(),                                                 // R1 = addrs6 map
		asm.Mov.Reg(R2, FP),                                      // R2 = &address (first 16 bytes of the key)
		asm.Add.Imm(R2, -24),                                     //
		asm.FnMapLookupElem.Call(),                               // R0 = addrs6[address]
		asm.JEq.Imm(R0, 0, "pass"),                               // not served: pass
		asm.LoadMem(R1, R0, 0, asm.Half),                         // R1 = client range low
		asm.LoadMem(R2, R0, 2, asm.Half),                         // R2 = client range high
		asm.JLT.Reg(R8, R1, "pass"),                              // below: pass
		asm.JGT.Reg(R8, R2, "pass"),                              // above: pass
		asm.Ja.Label("redirect"),                                 // in the client range: ours
		asm.Mov.Reg(R4, R2).WithSymbol("icmp6"),                  // ICMPv6: R4 = data
		asm.Add.Imm(R4, ip6Upper+8),                              // R4 = end of the ICMPv6 header
		asm.JGT.Reg(R4, R3, "pass"),                              // truncated: pass
		asm.LoadMem(R5, R2, ip6Upper, asm.Byte),                  // R5 = type
		asm.JEq.Imm(R5, icmp6Echo, "addr6"),                      // echo request: ours if to a served address
		asm.JLE.Imm(R5, icmp6ParamProblem, "icmp6err"),           // errors (types 1-4) quoting a segment
		asm.JEq.Imm(R5, icmp6NS, "nd"),                           // neighbour solicitation
		asm.JNE.Imm(R5, icmp6NA, "pass"),                         // neither NS nor NA: pass
		asm.Mov.Reg(R4, R2).WithSymbol("nd"),                     // NS/NA: R4 = data
		asm.Add.Imm(R4, ip6Upper+ndMinLen),                       // R4 = end of the target address
		asm.JGT.Reg(R4, R3, "pass"),                              // truncated: pass
	)
	ip6 = append(ip6, copy16(ndTargetOff)...) // key = target address
	ip6 = append(ip6,
		asm.JEq.Imm(R5, icmp6NS, "addr6"), // NS: ours if the target is served
		watch6(),                          // NA: R1 = nd_watch map
		asm.Mov.Reg(R2, FP),               // R2 = &target
		asm.Add.Imm(R2, -24),              //
		asm.FnMapLookupElem.Call(),        // R0 = nd_watch[target]
		asm.JEq.Imm(R0, 0, "pass"),        // not one xdptcp is resolving: the kernel's
		asm.Ja.Label("redirect"),          // ours
		addrs6().WithSymbol("addr6"),      // R1 = addrs6 map
		asm.Mov.Reg(R2, FP),               // R2 = &address
		asm.Add.Imm(R2, -24),              //
		asm.FnMapLookupElem.Call(),        // R0 = addrs6[address]
		asm.JEq.Imm(R0, 0, "pass"),        // not served: pass
		asm.Ja.Label("redirect"),          // ours
	)
	// The receive time (RxTimestamp): the CLOCK_MONOTONIC time now and
	// its complement, 16 bytes just before the packet. With stampMeta
	// they are XDP metadata, which AF_XDP copies along (copy mode too);
	// where the driver has no room for metadata the frame goes without.
	// With stampHead (kernels that refuse bpf_xdp_adjust_meta to XDP
	// programs) they are a prefix of the packet itself, which
	// Socket.Receive strips; a frame that goes to the kernel after all
	// (an empty XSKMAP slot: the fallback verdict) loses the prefix
	// again, so the kernel sees the frame as it came. R7 holds the
	// prefix's length meanwhile (callee-saved across the helper calls).
	var stamp asm.Instructions
	xsk := asm.Instructions{
		xsks().WithSymbol("xsk"),                         // R1 = XSKMAP
		asm.LoadMem(R2, R6, xdpMdRxQueueIndex, asm.Word), // R2 = ctx->rx_queue_index
		asm.Mov.Imm(R3, fallback),                        // R3 = verdict when the slot is empty (XDP_PASS)
		asm.FnRedirectMap.Call(),                         // R0 = bpf_redirect_map(xsks, queue, XDP_PASS)
	}
	// stampBlock grows the room before the packet by 16 bytes with helper
	// and writes the time and its complement at the ctx pointer at
	// startOff, bounded by the one at endOff (the verifier's check); no
	// room: on to the redirect without a time. R7 is left alone.
	stampBlock := func(helper asm.BuiltinFunc, startOff, endOff int16) asm.Instructions {
		return asm.Instructions{
			asm.FnKtimeGetNs.Call(),                 // R0 = bpf_ktime_get_ns()
			asm.Mov.Reg(R9, R0),                     // R9 = the time (callee-saved)
			asm.Mov.Reg(R1, R6),                     // R1 = ctx
			asm.Mov.Imm(R2, -RxMetaLen),             // R2 = -16
			helper.Call(),                           // R0 = helper(ctx, -16)
			asm.JNE.Imm(R0, 0, "xsk"),               // no room: no timestamp
			asm.LoadMem(R2, R6, startOff, asm.Word), // R2 = the 16 bytes' start
			asm.LoadMem(R3, R6, endOff, asm.Word),   // R3 = their bound
			asm.Mov.Reg(R4, R2),                     //
			asm.Add.Imm(R4, RxMetaLen),              // R4 = start + 16
			asm.JGT.Reg(R4, R3, "xsk"),              // (the verifier's bounds check)
			asm.StoreMem(R2, 0, R9, asm.DWord),      // the time
			asm.Xor.Imm(R9, -1),                     //
			asm.StoreMem(R2, 8, R9, asm.DWord),      // and its complement
		}
	}
	switch mode {
	case stampMeta:
		stamp = stampBlock(asm.FnXdpAdjustMeta, xdpMdDataMeta, xdpMdData) // metadata: data_meta .. data
		stamp[0] = stamp[0].WithSymbol("redirect")
		xsk = append(xsk, asm.Return()) // return R0
	case stampHead:
		stamp = append(asm.Instructions{asm.Mov.Imm(R7, 0).WithSymbol("redirect")}, // R7 = 0: no prefix
			stampBlock(asm.FnXdpAdjustHead, xdpMdData, xdpMdDataEnd)...) // the prefix: data .. data_end
		stamp = append(stamp, asm.Mov.Imm(R7, RxMetaLen)) // R7 = 16: the prefix is there
		xsk = append(xsk,
			asm.JEq.Imm(R0, xdpRedirect, "ret"), // redirected: the socket strips the prefix
			asm.JEq.Imm(R7, 0, "ret"),           // no prefix to take off
			asm.Mov.Reg(R8, R0),                 // R8 = the fallback verdict
			asm.Mov.Reg(R1, R6),                 // R1 = ctx
			asm.Mov.Imm(R2, RxMetaLen),          // R2 = 16
			asm.FnXdpAdjustHead.Call(),          // bpf_xdp_adjust_head(ctx, 16): the frame as it came
			asm.Mov.Reg(R0, R8),                 // R0 = the fallback verdict
			asm.Return().WithSymbol("ret"),      // return R0
		)
	}
	is := asm.Instructions{
		asm.Mov.Reg(R6, R1),                                     // R6 = ctx
		asm.LoadMem(R2, R6, xdpMdData, asm.Word),                // R2 = ctx->data
		asm.LoadMem(R3, R6, xdpMdDataEnd, asm.Word),             // R3 = ctx->data_end
		asm.Mov.Reg(R4, R2),                                     // R4 = data
		asm.Add.Imm(R4, ethLen),                                 // R4 = data + Ethernet header
		asm.JGT.Reg(R4, R3, "pass"),                             // shorter than an Ethernet header: pass
		asm.LoadMem(R5, R2, ethTypeOff, asm.Half),               // R5 = EtherType (network order)
		asm.HostTo(asm.BE, R5, asm.Half),                        // to host order (a VLAN tag 0x8100 falls through to pass)
		asm.JEq.Imm(R5, etherTypeARP, "arp"),                    // ARP
		asm.JEq.Imm(R5, etherTypeIP6, "ip6"),                    // IPv6
		asm.JNE.Imm(R5, etherTypeIP4, "pass"),                   // not IPv4 (VLAN, ...): pass
		asm.Mov.Reg(R4, R2),                                     // IPv4:
		asm.Add.Imm(R4, ethLen+ipMinLen),                        // R4 = end of a minimal IPv4 header
		asm.JGT.Reg(R4, R3, "pass"),                             // truncated IPv4 header: pass
		asm.LoadMem(R9, R2, ipVerIHL, asm.Byte),                 // R9 = version<<4 | IHL
		asm.Mov.Reg(R5, R9),                                     // R5 = version<<4 | IHL
		asm.RSh.Imm(R5, 4),                                      // R5 = version
		asm.JNE.Imm(R5, 4, "pass"),                              // not version 4: pass
		asm.And.Imm(R9, 0x0f),                                   // R9 = IHL (32-bit words)
		asm.JLT.Imm(R9, 5, "pass"),                              // IHL < 5 is malformed (RFC 791): pass
		asm.LSh.Imm(R9, 2),                                      // R9 = header length in bytes, 20..60
		asm.LoadMem(R5, R2, ipFragOff, asm.Half),                // R5 = flags + fragment offset (network order)
		asm.HostTo(asm.BE, R5, asm.Half),                        // host order
		asm.And.Imm(R5, 0x3fff),                                 // MF bit + fragment offset
		asm.JNE.Imm(R5, 0, "pass"),                              // a fragment: the kernel reassembles, pass
		asm.LoadMem(R7, R2, ipDstOff, asm.Word),                 // R7 = destination address (network order)
		asm.LoadMem(R5, R2, ipProtoOff, asm.Byte),               // R5 = protocol
		asm.Add.Imm(R2, ethLen),                                 // R2 = IPv4 header
		asm.Add.Reg(R2, R9),                                     // R2 = transport header (uses IHL, skips options)
		asm.JEq.Imm(R5, protoICMP, "icmp"),                      // ICMP
		asm.JNE.Imm(R5, protoTCP, "pass"),                       // neither ICMP nor TCP: pass
		asm.Mov.Reg(R4, R2),                                     // TCP:
		asm.Add.Imm(R4, tcpMinLen),                              // R4 = end of a minimal TCP header
		asm.JGT.Reg(R4, R3, "pass"),                             // truncated TCP header: pass
		asm.LoadMem(R8, R2, 2, asm.Half),                        // R8 = destination port (network order)
		asm.StoreMem(FP, -8, R7, asm.Word).WithSymbol("tcpkey"), // key.Addr = destination address (R7); R8 = port
		asm.StoreMem(FP, -4, R8, asm.Half),                      // key.Port = destination port (network order)
		asm.StoreImm(FP, -2, 0, asm.Half),                       // key.Pad = 0
		asm.HostTo(asm.BE, R8, asm.Half),                        // R8 = destination port, host order
		ports(),                                                 // R1 = ports map
		asm.Mov.Reg(R2, FP),                                     // R2 = &key
		asm.Add.Imm(R2, -8),                                     //
		asm.FnMapLookupElem.Call(),                              // R0 = ports[key]
		asm.JNE.Imm(R0, 0, "redirect"),                          // served (address, port): ours
		asm.StoreMem(FP, -16, R7, asm.Word),                     // addr key = destination address
		addrs(),                                                 // R1 = addrs map
		asm.Mov.Reg(R2, FP),                                     // R2 = &addr key
		asm.Add.Imm(R2, -16),                                    //
		asm.FnMapLookupElem.Call(),                              // R0 = addrs[address] (client port range)
		asm.JEq.Imm(R0, 0, "pass"),                              // not a served address: pass
		asm.LoadMem(R1, R0, 0, asm.Half),                        // R1 = range low
		asm.LoadMem(R2, R0, 2, asm.Half),                        // R2 = range high
		asm.JLT.Reg(R8, R1, "pass"),                             // port below the client range: pass
		asm.JGT.Reg(R8, R2, "pass"),                             // port above the client range: pass
		asm.Ja.Label("redirect"),                                // port in the client range: ours
		asm.Mov.Reg(R4, R2).WithSymbol("icmp"),                  // ICMP: R4 = ICMP header
		asm.Add.Imm(R4, icmpMinLen),                             // R4 = end of the echo header
		asm.JGT.Reg(R4, R3, "pass"),                             // truncated ICMP header: pass
		asm.LoadMem(R5, R2, 0, asm.Byte),                        // R5 = ICMP type
		asm.JEq.Imm(R5, icmpEcho, "addr"),                       // echo request: ours if addressed to a served address
		asm.JEq.Imm(R5, icmpUnreach, "icmperr"),                 // errors quoting a segment:
		asm.JEq.Imm(R5, icmpTimeExceeded, "icmperr"),            //
		asm.JNE.Imm(R5, icmpParamProblem, "pass"),               // other types: pass
		asm.Mov.Reg(R4, R2).WithSymbol("icmperr"),               // R4 = ICMP header
		asm.Add.Imm(R4, icmpMinLen+ipMinLen+4),                  // R4 = end of the quoted ports (quoted IHL 5)
		asm.JGT.Reg(R4, R3, "pass"),                             // truncated quote: pass
		asm.LoadMem(R5, R2, icmpMinLen, asm.Byte),               // R5 = quoted version<<4 | IHL
		asm.JNE.Imm(R5, 0x45, "pass"),                           // not IPv4 without options (ours never have any): pass
		asm.LoadMem(R5, R2, icmpMinLen+9, asm.Byte),             // R5 = quoted protocol
		asm.JNE.Imm(R5, protoTCP, "pass"),                       // not TCP: pass
		asm.LoadMem(R7, R2, icmpMinLen+12, asm.Word),            // R7 = quoted source (our address, if ours)
		asm.LoadMem(R8, R2, icmpMinLen+ipMinLen, asm.Half),      // R8 = quoted source port (network order)
		asm.Ja.Label("tcpkey"),                                  // ours if that (address, port) is served or a client port
		asm.Mov.Reg(R4, R2).WithSymbol("arp"),                   // ARP: R4 = data
		asm.Add.Imm(R4, ethLen+arpLen),                          // R4 = end of an Ethernet/IPv4 ARP packet
		asm.JGT.Reg(R4, R3, "pass"),                             // truncated ARP: pass
		asm.LoadMem(R5, R2, arpHtype, asm.Half),                 // R5 = hardware type (network order)
		asm.HostTo(asm.BE, R5, asm.Half),                        // host order
		asm.JNE.Imm(R5, 1, "pass"),                              // not Ethernet (1): pass
		asm.LoadMem(R5, R2, arpPtype, asm.Half),                 // R5 = protocol type (network order)
		asm.HostTo(asm.BE, R5, asm.Half),                        // host order
		asm.JNE.Imm(R5, etherTypeIP4, "pass"),                   // not IPv4: pass
		asm.LoadMem(R5, R2, arpHlen, asm.Half),                  // R5 = hlen, plen (network order)
		asm.HostTo(asm.BE, R5, asm.Half),                        // host order: hlen<<8 | plen
		asm.JNE.Imm(R5, 0x0604, "pass"),                         // not hlen 6, plen 4: pass
		asm.LoadMem(R7, R2, arpTpaOff, asm.Word),                // R7 = target protocol address
		asm.LoadMem(R8, R2, arpSpaOff, asm.Word),                // R8 = sender protocol address
		asm.JEq.Reg(R8, R7, "pass"),                             // gratuitous ARP (spa == tpa): the kernel's, pass
		asm.LoadMem(R5, R2, arpOperOff, asm.Half),               // R5 = operation (network order)
		asm.HostTo(asm.BE, R5, asm.Half),                        // host order
		asm.JEq.Imm(R5, arpRequest, "addr"),                     // request: ours if the target is served
		asm.JNE.Imm(R5, arpReply, "pass"),                       // neither request nor reply: pass
		asm.StoreMem(FP, -16, R7, asm.Word),                     // reply: addr key = target protocol address
		addrs(),                                                 // R1 = addrs map
		asm.Mov.Reg(R2, FP),                                     // R2 = &addr key
		asm.Add.Imm(R2, -16),                                    //
		asm.FnMapLookupElem.Call(),                              // R0 = addrs[target]
		asm.JEq.Imm(R0, 0, "pass"),                              // reply to an address we do not serve: pass
		asm.StoreMem(FP, -16, R8, asm.Word),                     // watch key = sender protocol address (R8 survives the call)
		watch(),                                                 // R1 = arp_watch map
		asm.Mov.Reg(R2, FP),                                     // R2 = &watch key
		asm.Add.Imm(R2, -16),                                    //
		asm.FnMapLookupElem.Call(),                              // R0 = arp_watch[sender]
		asm.JEq.Imm(R0, 0, "pass"),                              // not a sender xdptcp is resolving: the kernel's reply, pass
		asm.Ja.Label("redirect"),                                // a reply xdptcp is waiting for: ours
		asm.StoreMem(FP, -16, R7, asm.Word).WithSymbol("addr"),  // addr key = R7
		addrs(),                    // R1 = addrs map
		asm.Mov.Reg(R2, FP),        // R2 = &addr key
		asm.Add.Imm(R2, -16),       //
		asm.FnMapLookupElem.Call(), // R0 = addrs[address]
		asm.JEq.Imm(R0, 0, "pass"), // not a served address: pass
	}
	is = append(is, stamp...)
	is = append(is, xsk...)
	return append(append(is,
		asm.Mov.Imm(R0, xdpPass).WithSymbol("pass"), // not ours:
		asm.Return(), // XDP_PASS, the kernel keeps it
	), append(ip6, icmp6err(R0, R2, R3, R4, R5, R8, copy16)...)...)
}

// icmp6err is the filter's ICMPv6 error branch: an error (types 1-4)
// quoting a TCP segment (TCP right after the quoted fixed header) from a
// served (address, port), or from a client port, is ours: the key is the
// quoted source, and the TCP path's lookups decide.
func icmp6err(R0, R2, R3, R4, R5, R8 asm.Register, copy16 func(off int16) []asm.Instruction) asm.Instructions {
	is := asm.Instructions{
		asm.JEq.Imm(R5, 0, "pass").WithSymbol("icmp6err"), // type 0 is no error
		asm.Mov.Reg(R4, R2),                         // R4 = data
		asm.Add.Imm(R4, ip6Upper+8+ip6Len+4),        // R4 = end of the quoted ports
		asm.JGT.Reg(R4, R3, "pass"),                 // truncated quote: pass
		asm.LoadMem(R5, R2, ip6Upper+8+6, asm.Byte), // R5 = quoted next header
		asm.JNE.Imm(R5, protoTCP, "pass"),           // not TCP right after the header: pass
	}
	is = append(is, copy16(ip6Upper+8+8)...) // key = quoted source (our address, if ours)
	return append(is,
		asm.LoadMem(R8, R2, ip6Upper+8+ip6Len, asm.Half), // R8 = quoted source port (network order)
		asm.Ja.Label("tcp6key"),                          // ours if served or a client port
	)
}
