# Fleetproof. `make demo` runs the evidence path end to end on this machine;
# `make test` runs the test suite against real NATS and ClickHouse.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/fleetproof/fleetproof/agent/internal/cli.Version=$(VERSION) \
            -X github.com/fleetproof/fleetproof/collector/internal/cli.Version=$(VERSION)
export CGO_ENABLED = 0

.PHONY: all build deps test test-short vet demo schema-check clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/fleetproof-agent ./agent
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/fleetproof-collector ./collector

# deps installs what the tests and the demo need and are not Go modules:
# Debian's clickhouse-server (the collector runs it as a child process).
deps:
	@scripts/deps.sh

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -count=1 -timeout 15m ./...

test-short: vet
	$(GO) test -short ./...

demo: deps build
	@scripts/demo.sh

# Every migration and store query on current ClickHouse (26.x via chDB);
# the store tests run them on 18.16.
schema-check:
	$(GO) test -count=1 -run 'ChDB' -v ./collector/internal/store/

clean:
	rm -rf bin
