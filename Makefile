# podint: build, demo, tests, generated code.
# `make demo` and `make test` set up what they need on a fresh Debian 12
# machine (as root) and then run.

GO        ?= go
BIN       ?= $(CURDIR)/bin
PKGS      ?= ./...
TEST_FLAGS ?= -count=1 -timeout 25m
# The commands podint's build, tests, demo and bench run, with their Debian
# packages: one list, read here and by the Go tests (test/tools).
COMMANDS_LIST = test/tools/commands.txt
APT_PACKAGES = $(shell awk '!/^[[:space:]]*#/ && NF >= 2 {print $$2}' $(COMMANDS_LIST) | sort -u)
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   = -s -w -X main.Version=$(VERSION)
# The reference CNI plugins, at the version go.mod pins (tool dependencies).
CNI_PLUGINS = $(addprefix github.com/containernetworking/plugins/plugins/,\
	main/bridge main/ptp main/loopback ipam/host-local meta/portmap meta/bandwidth)

.PHONY: all build deps check-deps check-tidy demo test test-unit generate check-generated fuzz clean

all: build

## deps: install the Debian packages podint's build, tests and demo use.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@$(MAKE) --no-print-directory check-deps

## check-deps: fail, naming the fix, when a command of the list is missing.
check-deps:
	@missing=0; while read -r name pkg use; do \
		case "$$name" in ''|'#'*) continue;; esac; \
		case "$$name" in /*) test -e "$$name";; *) command -v "$$name" >/dev/null;; esac || \
			{ echo "missing: install $$name (Debian package $$pkg, for $$use): run 'make deps'"; missing=1; }; \
	done < $(COMMANDS_LIST); exit $$missing

## build: podint's binaries and the reference CNI plugins into bin/,
## static (CGO_ENABLED=0) as the image builds them and as the reference
## plugins ship: a binary linked with cgo starts through the dynamic loader
## and libc's threads, which cost an exec'd CNI plugin about as much again
## as a Go program's whole start (issue 15).
build:
	mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./plugin/cmd/podint ./daemon/cmd/podintd ./cli/cmd/podintctl ./install/cmd/podint-install ./collector/cmd/podint-collector
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/ $(CNI_PLUGINS)

## image: podint's image (and the pause image) built offline, FROM scratch
## with buildah, into bin/images as docker-archives for `ctr images import`:
## the Dockerfile's layout without its registry base images (root).
IMAGE_TAG ?= ghcr.io/podint/podint:$(VERSION)
.PHONY: image
image: deps
	$(GO) run ./test/cri/cmd/podint-image --out $(BIN)/images --tag $(IMAGE_TAG) --version $(VERSION)

## demo: a demo node with two pods, real CNI plugins, podintd and live INT reports (root).
demo: deps build
	$(GO) build -o $(BIN)/ ./test/demo/cmd/podint-demo
	$(BIN)/podint-demo --bin-dir $(BIN) $(DEMO_FLAGS)

## test: every test, end-to-end ones included (root); then the manifests'
## and chart's tests, a Go module of their own (deployments/).
test: deps
	$(GO) vet $(PKGS)
	$(GO) test $(TEST_FLAGS) $(PKGS)
	cd deployments && $(GO) vet ./... && $(GO) test $(TEST_FLAGS) ./...

## test-unit: the tests that need no root.
test-unit:
	$(GO) test -count=1 -short $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (found with go test -list).
## FUZZTIME is a count of executions (Nx), not a duration: Go up to 1.26
## fails a duration-bounded run with a bare "context deadline exceeded"
## when the deadline races a worker's last call (golang/go#75804), which
## a count has no deadline to race.
FUZZTIME ?= 100000x
fuzz:
	@set -e; log=$$(mktemp); for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1 || \
				{ cat $$log; rm -f $$log; exit 1; }; \
		done; \
	done; rm -f $$log

## bench: what the probes cost, each figure measured side by side with the
## same path without podint (root; about 10-15 minutes): one table (see
## docs/performance.md), then the Go benchmarks behind its daemon figures.
BENCH_FLAGS ?=
BENCHTIME   ?= 1s
.PHONY: bench bench-short
bench: deps build
	# the sandbox (pause) image's binary, static, for the pod start stage
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./test/cri/pause
	$(GO) run ./test/bench --bin-dir $(BIN) $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./internal/intreport ./daemon/events ./daemon/exporter ./collector/service

## bench-short: the same table in about three minutes, for CI: it keeps
## the benchmark from rotting; its figures are rougher.
bench-short:
	$(MAKE) bench BENCH_FLAGS=--short BENCHTIME=100ms

## generate: rebuild the BPF objects and bindings and the protobuf code.
generate: deps
	mkdir -p $(BIN)/tools
	$(GO) build -o $(BIN)/tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(GO) generate ./bpf/... ./proto/... ./test/redirect/...

## check-generated: fail when committed generated code differs from a fresh build.
check-generated: generate
	@git diff --exit-code --stat -- bpf proto test/redirect || \
		{ echo "generated code is stale: run 'make generate' and commit the result"; exit 1; }

## check-tidy: fail when go.mod or go.sum (either module) is not tidy.
check-tidy:
	$(GO) mod tidy -diff
	cd deployments && $(GO) mod tidy -diff

clean:
	rm -rf $(BIN) podint-demo-topology.dot podint-demo-topology.png
