#!/usr/bin/env bash
# Installs the system packages the tests need, when they are missing:
# the OpenCL ICD loader and headers with PoCL (OpenCL kernels on the CPU),
# clang (compiles the shared kernels as CUDA to PTX), OpenBLAS (the CPU
# backend's BLAS, loaded at run time), python3-onnx (onnx.checker for
# exported models), protoc (regenerates the ONNX types) and Open MPI
# (mpirun, and libmpi.so.40 loaded at run time, for the data-parallel
# tests). Debian and Ubuntu.
set -euo pipefail

packages=(ocl-icd-opencl-dev opencl-headers pocl-opencl-icd pkg-config clinfo clang libopenblas0 python3-onnx protobuf-compiler openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${missing[*]} and no apt-get to install them" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
