# xdptcp — see README.md. Every target that touches the network builds its
# own namespaces and removes them.

GO       ?= go
BIN      := bin
GOFLAGS  ?=
TESTTIME ?= 25m

.PHONY: all build run test test-race vet fmt clean

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
	$(GO) test $(GOFLAGS) -count=1 -race -timeout $(TESTTIME) ./flowtable/ ./stack/timer/ ./stack/

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
