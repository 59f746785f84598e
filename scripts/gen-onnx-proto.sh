#!/usr/bin/env bash
# Regenerates the Go types of the ONNX format (onnx/internal/onnxpb) from
# onnx-ml.proto, the copy of the file that Debian's python3-onnx 1.12 ships
# (IR version 8), with protoc (Debian protobuf-compiler) and the
# protoc-gen-go of the google.golang.org/protobuf version in go.mod.
#   scripts/gen-onnx-proto.sh [OUTDIR]   (default: onnx/internal/onnxpb)
set -euo pipefail
cd "$(dirname "$0")/.."
src=onnx/internal/onnxpb
out=${1:-$src}
command -v protoc >/dev/null || { echo "gen-onnx-proto: protoc not found (apt install protobuf-compiler)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${GO:-go} build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
mkdir -p "$out"
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" -I "$src" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go_opt=Monnx-ml.proto=github.com/mtl-gpu/mtl-gpu/onnx/internal/onnxpb \
  onnx-ml.proto
