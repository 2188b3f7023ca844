# xdptcp — see README.md. Every target that touches the network builds its
# own namespaces and removes them.

GO       ?= go
BIN      := bin
GOFLAGS  ?=
TESTTIME ?= 25m

.PHONY: all build run test test-race vet fmt clean bench bench-quick bench-smoke bench-build bench-gvisor bench-stack fuzz-short conformance conformance-build conformance-record conformance-long

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN)/xdptcpd ./cmd/xdptcpd

# The demo: namespaces, a veth pair and xdptcpd serving http on 8080 and
# echo on 7; Ctrl-C tears it all down. Needs root.
run: build
	./$(BIN)/xdptcpd demo

# The whole test suite. Tests that need root (namespaces, veth, AF_XDP)
# skip with a reason when not root, and fail instead when CI=true.
test: vet
	$(GO) test $(GOFLAGS) -count=1 -timeout $(TESTTIME) ./...
	$(GO) test $(GOFLAGS) -count=1 -race -timeout $(TESTTIME) ./flowtable/ ./stack/timer/ ./stack/ .
	$(MAKE) fuzz-short
	$(MAKE) conformance
	$(MAKE) bench-smoke

# Every fuzz target for a few seconds each (FUZZTIME), as CI does; a crasher
# lands in the package's testdata/fuzz and becomes a regression test.
FUZZTIME ?= 5s
FUZZ_TARGETS := \
	./stack/tcp:FuzzSegments ./stack/tcp:FuzzConfigSet ./stack/tcp/tcptest:FuzzParse \
	./stack:FuzzHandleFrame ./stack/wire:FuzzParseTCPOptions ./stack/wire:FuzzParseFrame ./stack/wire:FuzzIPv6Walk \
	./stack/timer:FuzzWheel ./flowtable:FuzzOps \
	./syncookie:FuzzCheck ./syncookie:FuzzDecodeTS ./syncookie:FuzzEncodeTS \
	./stack/tcp:FuzzCookieListener

# The engine itself sometimes stalls on this 2-core machine (workers at 0
# execs/s until "context deadline exceeded"): .ci/fuzz-short fails on a
# crasher or a real test failure, retries a stall once and passes it with a
# note (see the script).
fuzz-short:
	GO=$(GO) .ci/fuzz-short $(FUZZTIME) $(FUZZ_TARGETS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)

# The bench harness (bench/harness, README "Bench"): xdptcpd against Linux
# (Go net, net/http) and the gVisor peer, each in the same namespaces on the
# same CPUs. Results go to bench/results/<UTC timestamp>/. Needs root.
# BENCHFLAGS passes flags to xdptcp-bench (--server-cpus 1 --client-cpus 0,
# --runs, --duration, --servers, --scenarios, ...).
BENCHFLAGS ?=
BENCH_PKGS := ./cmd/xdptcpd ./bench/cmd/xdptcp-bench ./bench/cmd/xdptcp-peer ./bench/cmd/xdptcp-synflood ./bench/cmd/xdptcp-impair ./bench/cmd/xdptcp-load

bench-build:
	$(GO) build $(GOFLAGS) -o $(BIN)/ $(BENCH_PKGS)

# The gVisor peer is its own module (the main module does not depend on
# gVisor); the full bench runs without it if it does not build.
bench-gvisor:
	cd bench/peers/gvisor && $(GO) build -o $(CURDIR)/$(BIN)/xdptcp-gvisor-peer . || \
		(rm -f $(CURDIR)/$(BIN)/xdptcp-gvisor-peer; echo 'bench-gvisor: gVisor peer not built; the bench runs without it')

# Every scenario, every server, several runs each (about 30 minutes), on the
# per-core rig (--rig napi: threaded NAPI on both veth ends, pinned; README "Bench").
bench: bench-build bench-gvisor
	./$(BIN)/xdptcp-bench --mode full $(BENCHFLAGS)

# A 2-minute subset: xdptcpd and Linux + Go net, 2 runs of 2 s per scenario.
bench-quick: bench-build
	rm -f $(BIN)/xdptcp-gvisor-peer
	./$(BIN)/xdptcp-bench --mode quick $(BENCHFLAGS)

# The stack's own cost without a NIC (README "Bench: the stack's own cost"):
# two xdptcp Stacks over the in-memory link (net.Conn and event API) and two
# gVisor netstacks over link/pipe (net.Conn, its own module), in one process
# each, GOMAXPROCS=1, pinned to STACK_CPU; CPU-ns and allocations per
# operation, medians of 3 runs (about 6 minutes). No root needed. STACKFLAGS:
# --runs, --bytes, --requests, --connects, --workloads, --apis, --out.
# Results go to bench/results/stack-<timestamp>/.
STACK_CPU ?= 1
STACKFLAGS ?=
bench-stack:
	$(GO) build $(GOFLAGS) -o $(BIN)/ ./bench/cmd/xdptcp-stackbench
	cd bench/peers/gvisor && $(GO) build -o $(CURDIR)/$(BIN)/xdptcp-gvisor-stackbench ./stackbench || \
		(rm -f $(CURDIR)/$(BIN)/xdptcp-gvisor-stackbench; echo 'bench-stack: gVisor side not built; xdptcp rows only')
	taskset -c $(STACK_CPU) ./$(BIN)/xdptcp-stackbench \
		$$(test -x $(BIN)/xdptcp-gvisor-stackbench && echo --gvisor ./$(BIN)/xdptcp-gvisor-stackbench) $(STACKFLAGS)

# CI: each scenario for one second against xdptcpd and Linux + Go net, then
# check that the report and plots exist with non-zero figures (the report is
# removed when it passes, kept in /tmp when not). Never gVisor.
# Skips when not root, unless CI=true (like the tests).
bench-smoke: bench-build
	@if [ "$$(id -u)" != 0 ] && [ "$$CI" != true ]; then \
		echo 'bench-smoke: skipped: needs root (namespaces, veth, AF_XDP); CI=true requires it'; \
	else \
		out=$$(mktemp -d /tmp/xdptcp-bench-smoke.XXXXXX) && \
		./$(BIN)/xdptcp-bench --mode smoke --servers xdptcpd,linux-net --out $$out --check $(BENCHFLAGS) && rm -rf $$out; \
	fi

# Conformance (README "Conformance"): packetdrill, built from the unmodified
# upstream archive in PACKETDRILL_DIR, runs conformance/list.txt against
# xdptcp (shared-object mode: the adapter library conformance/adapter over
# a real engine) and against this machine's Linux kernel (local mode), each
# script in a fresh network namespace (unshare -n). Needs root, gcc, make,
# flex and bison; skips when not root unless CI=true. A script recorded PASS
# in conformance/expected.txt that fails fails the target.
# conformance-record rewrites expected.txt, conformance/results.md and
# README's table from one run.
PACKETDRILL_DIR ?= ../shared/third_party/packetdrill
PD_VERSION      := 2c4001c
NPLAB_VERSION   := c8e048b
CONF            := $(BIN)/conformance
PD_SRC          := $(CONF)/packetdrill-$(PD_VERSION)
PD_TOOL         := $(PD_SRC)/gtests/net/packetdrill
NPLAB_SRC       := $(CONF)/nplab-packetdrill-$(NPLAB_VERSION)
CONFFLAGS       ?=
PDRUN_FLAGS = --packetdrill $(PD_TOOL)/packetdrill --so $(CONF)/libxdptcp-pd.so --shim $(CONF)/shim \
	--google $(PD_SRC)/gtests/net/tcp --nplab $(NPLAB_SRC)/gtests/net/packetdrill/tests/linux \
	--ours conformance/scripts --list conformance/list.txt --expected conformance/expected.txt --out $(CONF)

$(PD_TOOL)/packetdrill: conformance/packetdrill-so-code-getsockopt.patch conformance/packetdrill-ipv6-tentative.patch
	rm -rf $(PD_SRC) $(NPLAB_SRC)
	mkdir -p $(CONF)
	tar -xzf $(PACKETDRILL_DIR)/packetdrill-$(PD_VERSION).tar.gz -C $(CONF)
	tar -xzf $(PACKETDRILL_DIR)/nplab-linux-tests-$(NPLAB_VERSION).tar.gz -C $(CONF)
	patch -s -p1 -d $(PD_SRC) < conformance/packetdrill-so-code-getsockopt.patch
	patch -s -p1 -d $(PD_SRC) < conformance/packetdrill-ipv6-tentative.patch
	cd $(PD_TOOL) && ./configure >/dev/null && $(MAKE) -s packetdrill

conformance-build: $(PD_TOOL)/packetdrill
	CGO_CFLAGS="-I$(abspath $(PD_TOOL))" $(GO) build $(GOFLAGS) -tags pdadapter -buildmode=c-shared -o $(CONF)/libxdptcp-pd.so ./conformance/adapter
	mkdir -p $(CONF)/shim
	$(GO) build $(GOFLAGS) -o $(CONF)/shim/sysctl ./conformance/cmd/pdsysctl
	cp conformance/shim/tc conformance/shim/python3 $(CONF)/shim/
	$(GO) build $(GOFLAGS) -o $(CONF)/pdrun ./conformance/cmd/pdrun

conformance:
	@if [ "$$(id -u)" != 0 ] && [ "$$CI" != true ]; then \
		echo 'conformance: skipped: needs root (unshare -n, packetdrill local mode); CI=true requires it'; \
	else \
		$(MAKE) conformance-build && ./$(CONF)/pdrun $(PDRUN_FLAGS) $(CONFFLAGS); \
	fi

# The seed topics with Linux's default settings (SYN retries 6: 127 s) and the
# address-mode runs of list-long.txt (343 runs; about 17 minutes here, 2026-12-07).
conformance-long: conformance-build
	./$(CONF)/pdrun $(PDRUN_FLAGS) --list conformance/list-long.txt --expected conformance/expected-long.txt --out $(CONF)/long --timeout 200s $(CONFFLAGS)

conformance-record: conformance-build
	./$(CONF)/pdrun $(PDRUN_FLAGS) --record --readme README.md $(CONFFLAGS)
	cp $(CONF)/results.md conformance/results.md
	cp $(CONF)/results.json conformance/results.json
