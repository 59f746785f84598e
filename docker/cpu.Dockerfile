# mtl-gpu for the CPU alone, with OpenBLAS.
#
# Build, from the repository root:
#
#   docker build -f docker/cpu.Dockerfile -t mtl-gpu:cpu .
#
# Run:
#
#   docker run --rm mtl-gpu:cpu devices
#   docker run --rm -v "$PWD:/data" mtl-gpu:cpu \
#     train --device cpu --data /data/train.csv --task 'label:binary' --out /data/model.mtl
#
# (add --user "$(id -u):$(id -g)" to write files in /data as yourself).

# Built without cgo: the CPU backend loads OpenBLAS at run time.
# The Go image of go.mod's version (a test in this directory checks it), with
# GOTOOLCHAIN=local so that the build never downloads another toolchain.
FROM golang:1.26.8 AS build
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/mtl-gpu ./cmd/mtl-gpu

# libopenblas0 provides libopenblas.so.0, which the CPU backend looks for.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/mtl-gpu /usr/local/bin/mtl-gpu
WORKDIR /data
ENTRYPOINT ["mtl-gpu"]
CMD ["devices"]
