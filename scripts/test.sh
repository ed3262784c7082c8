#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900

# Everything that parses untrusted files (model container and graph, dataset readers, loader)
# again under AddressSanitizer + UBSan: the libtorch-free targets, in a Debug build of their own.
cd ..
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDENSESHIFT_BUILD_TRAIN=OFF -DDENSESHIFT_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" > /dev/null
cmake --build build-asan -j "$(nproc)"
cd build-asan
ctest --output-on-failure -j "$(nproc)" --timeout 900

# The libtorch-free libraries cross-built for aarch64, tests under qemu-user (NEON kernels).
cd ..
bash scripts/test_arm.sh

# ---- Fuzzing (scripts/fuzz.sh, fuzz/; docs/reliability.md) ----
# Every reader of untrusted bytes under libFuzzer (clang, ASan + UBSan), 20 s per harness; a
# finding fails the run. The inputs committed under fuzz/ are replayed by ctest above as well.
if command -v clang++ > /dev/null; then
  bash "$(dirname "$0")/fuzz.sh" 20
else
  echo "fuzz: skipped: clang++ not found (scripts/setup.sh installs it)"
fi
