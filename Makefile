# Sextant: an Istio-compatible control plane.
GO        ?= go
BIN       := bin
SAMPLE    ?= examples/bookinfo
PKGS      := ./...

.PHONY: bench-go bench-istiod all build run test vet fmt-check compat bench envtest clean istioctl load

all: build

build:
	$(GO) build -o $(BIN)/pilot-discovery ./pilot/cmd/pilot-discovery

## run: serve the sample mesh from a config directory (no cluster needed).
run: build
	@echo "Serving $(SAMPLE): xDS on 127.0.0.1:15010, debug on :8080, metrics on :15014."
	@echo "  Try: curl -s localhost:8080/debug/registryz"
	@echo "       go run ./tools/grpc-xds-client -xds 127.0.0.1:15010 -target xds:///reviews.default.svc.cluster.local:9080"
	@echo "       istioctl proxy-status -r default --xds-address 127.0.0.1:15010 --plaintext"
	@echo "  Offline: $(BIN)/pilot-discovery generate --configDir $(SAMPLE) --proxy examples/proxies/bookinfo-productpage.yaml"
	$(BIN)/pilot-discovery discovery --configDir $(SAMPLE)

## test: everything CI runs (builds istioctl and the envtest binaries first, so the e2e and
## Kubernetes tests run).
test: fmt-check vet istioctl
	@assets=$$(GO=$(GO) tools/envtest/build.sh) && echo "KUBEBUILDER_ASSETS=$$assets" && \
		KUBEBUILDER_ASSETS=$$assets $(GO) test -count=1 $(PKGS)

## istioctl: upstream istioctl 1.31.1 for tests/e2e, built from the Go module proxy into
## ISTIOCTL_CACHE (default ~/.cache/sextant-istioctl); cached, a cold build takes ~5 minutes.
istioctl:
	GO=$(GO) tools/istioctl/build.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l pilot pkg tests tools 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## compat: the compat corpus report (share of resources equal to upstream istiod's).
compat:
	$(GO) test -count=1 -run TestCompat -v ./tests/compat/ | grep -v '^=== RUN'

## bench: every figure of the scale engine (issue 5): the Go benchmarks (bench-go), then
## upstream istiod's PushContext builds and the side-by-side load runs (bench-istiod).
## About 15-30 minutes on 2 cores; needs the oracle built (../shared/oracle/README.md).
bench: bench-go bench-istiod

## bench-go: PushContext build, SidecarScopes, re-indexing after one edit, per-proxy
## generation and the cluster cache, at 1k/5k/10k services and on the issue-5 mesh. The
## issue mesh's build and re-index benchmarks (milliseconds) run 100 times each, so that
## their averages include the garbage collection their allocations cost.
bench-go:
	$(GO) test -run '^$$' -bench 'PushContextBuild|GenerateSidecar|SidecarScopes|GenerateIssueSidecar|IssueClusters|IssueRoutes' \
		-benchmem -benchtime 5x ./tests/bench/
	$(GO) test -run '^$$' -bench 'IssueMeshBuild|PushContextDerive' -benchmem -benchtime 100x ./tests/bench/

## envtest: kube-apiserver and etcd for envtest, built from the Go module proxy and cached
## (cold: minutes). Prints the directory for KUBEBUILDER_ASSETS.
envtest:
	GO=$(GO) tools/envtest/build.sh

## load: config change -> every affected proxy ACKed, with 100 and 1000 simulated Envoys
## (ADS streams) on a 1k-service mesh, against a child pilot-discovery; prints latency
## percentiles, responses/bytes/pushes per change, CPU and RSS (tests/bench/load).
## About 20 minutes on 2 cores. LOAD_CLIENTS and LOAD_FLAGS (adsload flags) adjust it.
LOAD_CLIENTS ?= 100,1000
LOAD_FLAGS   ?=
load: build
	$(GO) run ./tests/bench/load/adsload -sextant $(BIN)/pilot-discovery -clients $(LOAD_CLIENTS) -services 1000 $(LOAD_FLAGS)

## bench-istiod: Sextant and upstream istiod side by side on the issue-5 mesh (10k
## ServiceEntries, 2k VirtualServices, 2k DestinationRules, 500 EnvoyFilters, 1k Sidecars):
## istiod's PushContext build times (tools/istiodbench: lazy Sidecar scopes as istiod's
## default, then eager) - compare with `make bench` - and the load harness against both
## servers with ISTIOD_CLIENTS simulated Envoys (vs, dr and se-eds changes) over Delta
## (Istio's default since 1.22) and State of the World streams, printing a
## Sextant/istiod ratio table; each change is applied 20 times to Sextant and 3 times to
## istiod (whose changes take seconds to settle). Needs the oracle built (../shared/oracle/README.md); the
## istiodbench build reuses its module and build caches. ISTIOD_FLAGS adjust adsload.
ORACLE         ?= $(HOME)/.cache/sextant-oracle/oracle
ISTIOD_CLIENTS ?= 1000
ISTIOD_FLAGS   ?=
BENCH_MESH     ?= /tmp/sextant-bench-mesh
MESH_FLAGS      = -se-services -services 10000 -namespaces 50 -service-entries 0 -vs-percent 20 \
		  -dr-percent 20 -envoy-filters 500 -sidecars 1000
bench-istiod: build
	$(GO) run ./tools/meshgen -out $(BENCH_MESH) $(MESH_FLAGS)
	ib=$$(GO=$(GO) tools/istiodbench/build.sh) && $$ib -case $(BENCH_MESH) -n 3 && $$ib -case $(BENCH_MESH) -n 3 -eager-sidecars
	$(GO) run ./tests/bench/load/adsload -servers sextant,istiod -sextant $(BIN)/pilot-discovery -oracle $(ORACLE) \
		$(MESH_FLAGS) -clients $(ISTIOD_CLIENTS) -modes delta,sotw -debounce 1ms -iterations 20 -istiod-iterations 3 \
		-json bench-istiod.json $(ISTIOD_FLAGS)

clean:
	rm -rf $(BIN)
