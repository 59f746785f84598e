#!/usr/bin/env bash
# Installs ONNX Runtime for Node.js (the npm package onnxruntime-node, which
# bundles the CPU runtime for Linux) into a scratch folder, for the tests
# that run exported models in it. npm install runs without install scripts:
# nothing is downloaded besides the package and its dependencies. When npm
# is missing it is installed with apt (Debian's nodejs and npm).
#   scripts/install-onnxruntime.sh [DIR]   (default: out/onnxruntime)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-out/onnxruntime}
version=1.30.0
pkg="$dir/node_modules/onnxruntime-node/package.json"
if [ -f "$pkg" ] && grep -q "\"version\": \"$version\"" "$pkg"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  command -v apt-get >/dev/null || { echo "install-onnxruntime: npm is missing and there is no apt-get to install it" >&2; exit 1; }
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-onnxruntime: need root (or sudo) to install npm" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install-onnxruntime: installing nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$dir"
echo "install-onnxruntime: npm install onnxruntime-node@$version into $dir" >&2
npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --no-save --loglevel=error "onnxruntime-node@$version" >&2
