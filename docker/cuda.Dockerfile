# mtl-gpu with the CUDA backend, for NVIDIA GPUs (the CPU backend is in it
# too, with OpenBLAS).
#
# Build, from the repository root:
#
#   docker build -f docker/cuda.Dockerfile -t mtl-gpu:cuda .
#
# Run with the NVIDIA Container Toolkit installed on the host; --gpus makes
# it mount the host's driver (libcuda.so.1) into the container, and this
# image brings cuBLAS:
#
#   docker run --rm --gpus all mtl-gpu:cuda devices
#   docker run --rm --gpus all -v "$PWD:/data" mtl-gpu:cuda \
#     train --device cuda:0 --data /data/train.csv --task 'label:binary' --out /data/model.mtl
#
# The default base is CUDA 12.9.1 (the last CUDA 12 release, cuBLAS
# libcublas.so.12) on Ubuntu 24.04, from NVIDIA's documented tags
# (https://gitlab.com/nvidia/container-images/cuda/-/blob/master/doc/supported-tags.md).
# It runs on drivers of branch 575 or later and, through CUDA's minor
# version compatibility, on the older data-centre branches that the image's
# NVIDIA_REQUIRE_CUDA lists (Hopper machines such as the H200 often run
# 550 or 570). With a driver of branch 580 or later, CUDA 13 works too:
#   --build-arg CUDA_VERSION=13.0.1 (cuBLAS libcublas.so.13).
ARG CUDA_VERSION=12.9.1

# The binary is built without cgo: it loads the driver and cuBLAS at run
# time, so the build stage needs no CUDA toolkit.
# The Go image of go.mod's version (a test in this directory checks it), with
# GOTOOLCHAIN=local so that the build never downloads another toolchain.
FROM golang:1.26.8 AS build
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/mtl-gpu ./cmd/mtl-gpu

# The runtime image has cuBLAS on the loader's path, NCCL (the runtime
# images carry libnccl2; it is installed from NVIDIA's repository, which
# the image has configured, where a base lacks it) and Open MPI, for
# data-parallel training over several GPUs (mtl-gpu loads libmpi.so.40
# and libnccl.so.2 at run time, as it loads cuBLAS):
#
#   docker run --rm --gpus all -v "$PWD:/data" --entrypoint mpirun mtl-gpu:cuda \
#     --allow-run-as-root -np 2 mtl-gpu train --device cuda:local --data /data/train.csv ...
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 openmpi-bin \
 && { ldconfig -p | grep -q 'libnccl\.so\.2 ' || apt-get install -y --no-install-recommends libnccl2; } \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/mtl-gpu /usr/local/bin/mtl-gpu
WORKDIR /data
ENTRYPOINT ["mtl-gpu"]
CMD ["devices"]
