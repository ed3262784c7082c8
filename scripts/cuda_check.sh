#!/usr/bin/env bash
# Builds the trainer against a CUDA-enabled libtorch 2.x (the one inside a Python PyTorch
# install), trains on the GPU, and optionally regenerates docs/results.md there.
#
# usage: scripts/cuda_check.sh DEPS_DIR DATA_DIR [OUT_DIR] [EPOCHS]
#   DEPS_DIR  folder of Debian .deb files for zlib, libpng, turbojpeg, nlohmann-json, CLI11
#             (unpacked into a private prefix: the GPU machine may lack their headers)
#   DATA_DIR  Fashion-MNIST IDX files
#   OUT_DIR   where logs and the results doc are copied (default: ./cuda-check)
#   EPOCHS    epochs for the results table; 0 skips it (default 10)
set -uo pipefail
cd "$(dirname "$0")/.."
deps=$1 data=$2 out=${3:-cuda-check} epochs=${4:-10}
mkdir -p "$out"
exec > >(tee "$out/cuda_check.log") 2>&1

prefix=/tmp/ds-deps
mkdir -p "$prefix"
for f in "$deps"/*.deb; do dpkg -x "$f" "$prefix"; done
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

configure() {
  rm -rf build-cuda
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DDENSESHIFT_BUILD_TESTS=OFF -DDENSESHIFT_BUILD_BENCH=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DCMAKE_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu" "$@" \
    > "$out/configure.log" 2>&1 && cmake --build build-cuda -j "$(nproc)" --target denseshift > "$out/build.log" 2>&1
}
t0=$(date +%s)
if configure; then
  echo "build: ok with the default C++ standard ($(( $(date +%s) - t0 )) s)"
else
  echo "build with the default standard failed:"; grep -m5 -E "error|Error" "$out/configure.log" "$out/build.log"
  configure -DCMAKE_CXX_STANDARD=20 && echo "build: ok with -DCMAKE_CXX_STANDARD=20" || {
    echo "build failed:"; grep -m20 -E "error|Error" "$out/configure.log" "$out/build.log"; exit 1; }
fi
bin=build-cuda/src/cli/denseshift

echo "== smoke: resnet20 DenseShift 3-bit, 100 steps on cuda, then resume one more epoch"
$bin train "$data" --arch resnet20 --epochs 2 --max-steps 100 --stop-after 1 --device cuda --out /tmp/smoke --fresh --quiet || exit 1
$bin train --resume /tmp/smoke --device cuda --quiet || exit 1
$bin train --resume /tmp/smoke --evaluate --device cuda || exit 1
echo "== the checkpoint read from Python PyTorch (torch.load)"
python3 -c 'import torch; d = torch.load("/tmp/smoke/last.pt", weights_only=False); print("format", d["format"], "epoch", d["epoch"], "best_top1", round(d["best_top1"], 2), "tensors", len(d["model"]), "first", next(iter(d["model"])), tuple(d["model"]["layer1.0.conv1.latents"].shape))'

if [ "$epochs" -gt 0 ]; then
  echo "== results table on cuda, $epochs epochs, 6 rows in parallel"
  bash scripts/results_fmnist.sh -d cuda -e "$epochs" -p 6 -D "$data" -b "$bin" -o "$out/results.md"
  cp runs/results-fmnist/*.log "$out/" 2>/dev/null
  tar czf "$out/metrics.tgz" runs/results-fmnist/*/metrics.jsonl runs/results-fmnist/*/result.json
fi
echo "total $(( $(date +%s) - t0 )) s"
