# mtl-gpu: build, test, benchmark and package.
GO ?= go
BIN := bin/mtl-gpu
# The OpenCL binding targets OpenCL 1.2; saying so quiets the headers.
export CGO_CFLAGS ?= -DCL_TARGET_OPENCL_VERSION=120

.PHONY: all build build-pure test deps vet test-pure test-opencl fuzz generate bench bench-compare docker-cuda docker-cpu gpu-check clean

all: build

## build: the full-featured binary (CPU with OpenBLAS, CUDA, OpenCL) in bin/mtl-gpu
build:
	$(GO) build -tags opencl -o $(BIN) ./cmd/mtl-gpu

## build-pure: a binary without cgo (CPU with OpenBLAS, CUDA; no OpenCL)
build-pure:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/mtl-gpu

## test: install what the tests need, then vet and test everything, the
## OpenCL backend on PoCL included (it must find a device: no skipping)
test: deps vet test-pure test-opencl

deps:
	./scripts/install-deps.sh

vet:
	@test -z "$$(git ls-files -z '*.go' | xargs -0 gofmt -l | tee /dev/stderr)" || { echo "gofmt: the files above need formatting" >&2; exit 1; }
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) vet -tags opencl ./...

test-pure:
	CGO_ENABLED=0 MTLGPU_REQUIRE_OPENBLAS=1 MTLGPU_REQUIRE_CC=1 MTLGPU_REQUIRE_CLANG=1 $(GO) test -short ./...

test-opencl:
	MTLGPU_REQUIRE_OPENCL=1 MTLGPU_REQUIRE_OPENBLAS=1 MTLGPU_REQUIRE_CC=1 MTLGPU_REQUIRE_CLANG=1 $(GO) test -tags opencl ./backend/opencl/ ./kernels/ ./cmd/mtl-gpu/

## generate: rebuild the committed PTX of the shared kernels (needs clang)
generate:
	$(GO) generate ./kernels

## bench: the reference workloads on the default device
bench: build
	$(BIN) bench --workload linear
	$(BIN) bench --workload relu

## bench-compare: mtl-gpu and PyTorch on the same workload, threads and machine
bench-compare: build
	./benchmark/compare.sh

docker-cuda:
	docker build -f docker/cuda.Dockerfile -t mtl-gpu:cuda .

docker-cpu:
	docker build -f docker/cpu.Dockerfile -t mtl-gpu:cpu .

## gpu-check: build the binaries to copy to a machine with an NVIDIA GPU
gpu-check:
	./scripts/gpu-check.sh

clean:
	rm -rf bin out
