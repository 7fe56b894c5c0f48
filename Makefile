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
	$(GO) test -count=1 -run CurrentClickHouse -v ./collector/internal/store/

# Ingest throughput as ratios against raw JetStream and ClickHouse ceilings
# measured in the same run (collector/internal/bench); about 2-3 minutes on
# 2 cores. Needs clickhouse-server (`make deps`). Benchmarks only report;
# bin/benchtable prints the table, judges the targets, and fails only when
# the run itself failed.
BENCHTIME ?= 3s
.PHONY: bench
bench:
	$(GO) build -o bin/benchtable ./collector/internal/bench/cmd/benchtable
	$(GO) test -count=1 -timeout 10m -run '^$$' -bench . -benchtime $(BENCHTIME) ./collector/internal/bench/ 2>&1 | bin/benchtable

# Reports on a large fleet (collector/internal/reportbench): posture as of
# an instant, period compliance over 90 days and a full extract, against
# 10,000 devices x 20 checks x 90 days of hourly results (432M rows) in a
# ClickHouse server of its own. The first run seeds the data set inside
# ClickHouse (tens of minutes, ~10 GB under REPORTBENCH_DIR, default
# /var/tmp/fleetproof-reportbench); later runs reuse it. It also checks on
# that data that posture's rollup-based query answers exactly as the full
# scan. REPORTBENCH_SCALE=devices,checks,days tries a smaller fleet. The
# quick figures run REPORT_BENCHTIME times; the extract, the evidence read
# and the former full-scan posture query (the "before") once. The extract
# covers as many days as fit in a quarter of the free space in TMPDIR (a
# full quarter of CC6.1 needs ~60 GB) and the table projects the rest;
# REPORTBENCH_EXTRACT_DAYS=N sets the days. Benchmarks only report;
# bin/reporttable judges the targets. About 15 minutes with a cached data set.
REPORT_BENCHTIME ?= 5x
.PHONY: bench-report
bench-report:
	$(GO) build -o bin/reporttable ./collector/internal/reportbench/cmd/reporttable
	{ REPORTBENCH=1 $(GO) test -count=1 -timeout 4h -v -run 'LargeFleet' -bench 'Dataset|PostureAsOf|Compliance' \
		-benchtime $(REPORT_BENCHTIME) ./collector/internal/reportbench/; \
	  REPORTBENCH=1 $(GO) test -count=1 -timeout 2h -run '^$$' -bench 'PostureFullScan|Extract|EvidenceScan' -benchtime 1x \
		./collector/internal/reportbench/; } 2>&1 | bin/reporttable

# package cross-compiles both programs for each PACKAGE_ARCHS and builds
# their deb, rpm and apk packages into dist/ (packaging/README.md says what
# they install and do). Packages of earlier builds are removed first, so
# dist/ holds one consistent set.
PACKAGE_ARCHS ?= amd64 arm64
.PHONY: package
package:
	rm -f dist/fleetproof-agent_* dist/fleetproof-collector_*
	@set -e; for arch in $(PACKAGE_ARCHS); do \
		echo "building linux/$$arch"; \
		GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/linux-$$arch/fleetproof-agent ./agent; \
		GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/linux-$$arch/fleetproof-collector ./collector; \
		$(GO) run ./packaging/cmd/fleetproof-package -version '$(VERSION)' -arch $$arch \
			-agent dist/linux-$$arch/fleetproof-agent -collector dist/linux-$$arch/fleetproof-collector -out dist; \
	done

clean:
	rm -rf bin
