# mtl-gpu: build, test, benchmark and package.
GO ?= go
BIN := bin/mtl-gpu
# A test pipeline fails when go test fails, not only when its last stage does.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Under these, a missing prerequisite (the shared data sets, a C compiler for
# the CUDA stand-in, clang, an OpenCL device, OpenBLAS, Open MPI's mpirun and
# libmpi) fails the tests that need it instead of skipping them; only the
# tests that need a real GPU skip.
REQUIRE := MTLGPU_REQUIRE_DATA=1 MTLGPU_REQUIRE_CC=1 MTLGPU_REQUIRE_CLANG=1 MTLGPU_REQUIRE_OPENCL=1 MTLGPU_REQUIRE_OPENBLAS=1 MTLGPU_REQUIRE_ONNX=1 MTLGPU_REQUIRE_MPI=1
# ONNX Runtime for Node.js (npm onnxruntime-node), installed here for the
# tests that run exported models in it; test-pure leaves those tests to
# onnx-check.
ONNXRUNTIME := out/onnxruntime
ONNX_TESTS := ^TestONNXRuntime
# Where the test runs record the tests they skipped, for the closing count.
SKIPS := out/test-skips.jsonl
SUMMARY := $(GO) run ./internal/testsummary
# The OpenCL binding targets OpenCL 1.2; saying so quiets the headers.
export CGO_CFLAGS ?= -DCL_TARGET_OPENCL_VERSION=120

.PHONY: all build build-pure test deps vet test-pure test-opencl test-summary onnx-deps onnx-check fuzz generate bench bench-compare bench-ingest docker-cuda docker-cpu gpu-check clean

all: build

## build: the full-featured binary (CPU with OpenBLAS, CUDA, OpenCL) in bin/mtl-gpu
build:
	$(GO) build -tags opencl -o $(BIN) ./cmd/mtl-gpu

## build-pure: a binary without cgo (CPU with OpenBLAS, CUDA; no OpenCL)
build-pure:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/mtl-gpu

## test: install what the tests need, then vet and test everything, the
## OpenCL backend on PoCL included (it must find a device: no skipping) and
## exported models in ONNX Runtime (onnx-check), and end with the count of
## skipped tests and why
test: deps vet test-pure test-opencl onnx-check test-summary

deps:
	./scripts/install-deps.sh

vet:
	@test -z "$$(git ls-files -z '*.go' | xargs -0 gofmt -l | tee /dev/stderr)" || { echo "gofmt: the files above need formatting" >&2; exit 1; }
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) vet -tags opencl ./...

test-pure:
	@mkdir -p out && rm -f $(SKIPS)
	CGO_ENABLED=0 $(REQUIRE) $(GO) test -short -json -skip '$(ONNX_TESTS)' ./... | $(SUMMARY) -append $(SKIPS)

test-opencl:
	$(REQUIRE) $(GO) test -json -tags opencl ./backend/opencl/ ./kernels/ | $(SUMMARY) -append $(SKIPS)
	$(REQUIRE) $(GO) test -json -tags opencl -run OpenCL ./cmd/mtl-gpu/ ./stream/ | $(SUMMARY) -append $(SKIPS)

test-summary:
	@$(SUMMARY) -report $(SKIPS)

onnx-deps:
	./scripts/install-onnxruntime.sh $(ONNXRUNTIME)

## onnx-check: export models trained on the shared data sets, validate each
## file with onnx.checker (python3-onnx) and check that ONNX Runtime (npm
## onnxruntime-node, installed into out/onnxruntime) agrees with predict
onnx-check: onnx-deps
	@mkdir -p out
	CGO_ENABLED=0 $(REQUIRE) MTLGPU_ONNXRUNTIME=$(abspath $(ONNXRUNTIME)) $(GO) test -json -run '$(ONNX_TESTS)' ./onnx/ | $(SUMMARY) -append $(SKIPS)

## generate: rebuild the committed PTX of the shared kernels (needs clang)
## and the Go types of the ONNX format (needs protoc)
generate:
	$(GO) generate ./kernels ./onnx/...

## bench: the reference workloads on the default device
bench: build
	$(BIN) bench --workload linear
	$(BIN) bench --workload relu

## bench-compare: mtl-gpu and PyTorch on the same workload, threads and machine
bench-compare: build
	./benchmark/compare.sh

## bench-ingest: reading a million-row table, against DuckDB and pandas
bench-ingest:
	./benchmark/ingest.sh 2

docker-cuda:
	docker build -f docker/cuda.Dockerfile -t mtl-gpu:cuda .

docker-cpu:
	docker build -f docker/cpu.Dockerfile -t mtl-gpu:cpu .

## mutation-check: break the weighting methods on purpose, one at a time, in a
## copy of the tree, and require a test of ./mtl/... to catch each (minutes)
.PHONY: mutation-check
mutation-check:
	./scripts/mutation-check.sh

## gpu-check: build the binaries to copy to a machine with an NVIDIA GPU
gpu-check:
	./scripts/gpu-check.sh

clean:
	rm -rf bin out
