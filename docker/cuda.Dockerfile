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
# The default CUDA 12.4 runtime runs on drivers from 550 on (and on the
# long-term data-centre branches the image's NVIDIA_REQUIRE_CUDA lists);
# GPUs newer than Hopper need a newer cuBLAS:
#   --build-arg CUDA_VERSION=12.8.1 (driver 570 or later).
ARG CUDA_VERSION=12.4.1

# The binary is built without cgo: it loads the driver and cuBLAS at run
# time, so the build stage needs no CUDA toolkit.
FROM golang:1.26 AS build
# An image older than go.mod's toolchain fetches the one it names.
ENV GOTOOLCHAIN=auto
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/mtl-gpu ./cmd/mtl-gpu

# The runtime image has cuBLAS (libcublas.so.12) on the loader's path.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu22.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/mtl-gpu /usr/local/bin/mtl-gpu
WORKDIR /data
ENTRYPOINT ["mtl-gpu"]
CMD ["devices"]
