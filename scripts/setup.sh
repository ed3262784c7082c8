#!/usr/bin/env bash
# Installs what denseshift needs on Debian 12 (root; Debian packages only). Safe to re-run:
# packages already present are skipped without touching the network.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ pkg-config clang libclang-rt-14-dev
  libtorch-dev libgloo-dev libopenblas-dev libdnnl-dev
  zlib1g-dev libpng-dev libturbojpeg0-dev
  libgtest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  dataset-fashion-mnist gnuplot-nox valgrind
  python3-torch python3-torchvision
  python3-dev python3-numpy python3-pytest pybind11-dev libonnx-dev python3-onnx
  g++-aarch64-linux-gnu qemu-user-static
  libturbojpeg0-dev:arm64 libpng-dev:arm64 zlib1g-dev:arm64   # denseshift-run for aarch64 (multiarch)
  libsndfile1-dev libsamplerate0-dev libfftw3-dev espeak-ng sox  # speech: audio files, resampling, front end, corpus
  libsndfile1-dev:arm64 libsamplerate0-dev:arm64 libfftw3-dev:arm64
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  # The :arm64 packages need the architecture added to dpkg first (Debian multiarch).
  if [[ "${missing[*]}" == *:arm64* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
else
  echo "setup: all packages present"
fi
