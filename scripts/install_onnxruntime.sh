#!/usr/bin/env bash
# Installs ONNX Runtime's CPU build for node (npm's onnxruntime-node, which bundles libonnxruntime.so
# for x64 and arm64) into PREFIX, unless it is there already, and prints the package folder: what
# bench_e2e --ort and the ONNX Runtime test (python/tests/test_onnxruntime.py) take.
#
# usage: scripts/install_onnxruntime.sh [PREFIX]     (default: build/onnxruntime-node)
# Exit 1 with npm's reason on stderr where node/npm are missing or the registry cannot be reached.
set -euo pipefail
ORT_VERSION=1.30.0
prefix=${1:-"$(dirname "$0")/../build/onnxruntime-node"}
pkg="$prefix/node_modules/onnxruntime-node"
if [ -f "$pkg/package.json" ] && grep -q "\"version\": \"$ORT_VERSION\"" "$pkg/package.json"; then
  realpath "$pkg"
  exit 0
fi
for tool in node npm; do
  command -v "$tool" > /dev/null || { echo "install_onnxruntime.sh: $tool is not installed" >&2; exit 1; }
done
mkdir -p "$prefix"
# --ignore-scripts: the package's own install script would download CUDA parts; the CPU library is
# inside the package.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! timeout 300 npm install --ignore-scripts --no-audit --no-fund --fetch-retries=1 --prefix "$prefix" \
    "onnxruntime-node@$ORT_VERSION" > "$log" 2>&1 || [ ! -f "$pkg/package.json" ]; then
  reason=$(grep -i "error" "$log" | grep -v "complete log" | head -n3 | tr '\n' ' ')
  echo "install_onnxruntime.sh: npm install onnxruntime-node@$ORT_VERSION failed: ${reason:-no message (timed out?)}" >&2
  exit 1
fi
realpath "$pkg"
