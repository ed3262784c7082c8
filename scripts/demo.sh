#!/usr/bin/env bash
# README command 1: install what is missing, build, then the main job: train a 3-bit DenseShift
# network on the built-in Fashion-MNIST and the same network in FP32, print both accuracies,
# then export the DenseShift model, run it on the libtorch-free engine and print its accuracy,
# file size and latency next to the trainer's numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh > build.log 2>&1 || { tail -50 build.log; exit 1; }
echo "build: ok (log in build.log)"

bin=build/src/cli/denseshift
"$bin" train --method denseshift --bits 3 --out runs/demo-denseshift3 --fresh "$@"
"$bin" train --method fp32 --out runs/demo-fp32 --fresh "$@"

value() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1/result.json" | head -n1; }
echo
echo "Fashion-MNIST, smallcnn, built-in short schedule (same recipe for both rows):"
printf '  %-18s %8s %8s %10s\n' "weights" "top-1 %" "top-5 %" "time s"
for run in denseshift3 fp32; do
  d=runs/demo-$run
  printf '  %-18s %8.2f %8.2f %10.1f\n' "$( [ $run = fp32 ] && echo 'FP32' || echo 'DenseShift 3-bit')" \
    "$(value $d top1)" "$(value $d top5)" "$(value $d seconds)"
done

echo
echo "Deployment of the DenseShift model (denseshift export, eval, bench on the engine, no libtorch):"
model=runs/demo-denseshift3/model.dsm
"$bin" export runs/demo-denseshift3 -o "$model" | sed 's/^/  /'
engine=$("$bin" eval "$model" | tail -n1)
kernel=${engine%% *}
printf '  %-34s %s\n' "trainer top-1 (libtorch):" "$(value runs/demo-denseshift3 top1) %"
printf '  %-34s %s\n' "engine top-1 ($kernel):" "$(echo "$engine" | sed -n 's/.*top-1 \([0-9.]*\)%.*/\1/p') %"
"$bin" bench "$model" --kernel "$kernel" --batch 64 --reps 20 | sed 's/^/  /'
