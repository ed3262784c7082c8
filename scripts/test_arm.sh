#!/usr/bin/env bash
# The libtorch-free libraries (core, kernels, runtime, data) and denseshift-run with their tests,
# cross-built for aarch64 and run under qemu-user: the NEON kernels, the engine and the deployment
# CLI with image decoding on ARM (docs/arm.md). Needs g++-aarch64-linux-gnu, qemu-user-static and
# the arm64 image libraries (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
  -DDENSESHIFT_BUILD_TRAIN=OFF -DDENSESHIFT_BUILD_BENCH=OFF -DDENSESHIFT_BUILD_DATA=ON > /dev/null
cmake --build build-arm -j "$jobs"
cd build-arm
ctest --output-on-failure -j "$jobs" --timeout 900
