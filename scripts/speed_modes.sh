#!/usr/bin/env bash
# Whether the machine's speed switches between modes while a benchmark runs, and how much each
# runtime feels it: the engine (`build/bench/engine_bench`, DS_BENCH_TIMES) and ONNX Runtime
# (`bench/ort_child.js --runs N --times FILE`) each time N single runs of the same model, batch 1,
# 1 thread, pinned to core 0, and the per-run times are read as a time series: their spread, the
# share of runs within 1.3x of the fastest ("fast"), and the median of each stretch of 250 runs.
# With --together the two run at the same time on cores 0 and 1, so that their stretches can be
# set side by side (each then also feels the other in the shared caches).
#
#   scripts/speed_modes.sh [--together] [--runs N] [--kernel K] MODEL.dsm MODEL.onnx
#
# MODEL.onnx is MODEL.dsm's export (`denseshift-run export-onnx`, or bench_e2e --save-onnx). The
# figures of docs/benchmarks_notes.md's "two speeds" paragraph come from it (session 17: AMD Zen 3,
# ResNet-20 at 28x28: the engine 0.57-0.70 ms in fast stretches and 1.0-1.15 ms in slow ones,
# ONNX Runtime 1.0-1.2 ms throughout). Needs scripts/build.sh and scripts/install_onnxruntime.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
together=0 runs=4000 kernel=fastest
while (($#)); do
  case $1 in
    --together) together=1 ;;
    --runs) runs=$2; shift ;;
    --kernel) kernel=$2; shift ;;
    -*) sed -n '10p' "$0" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
(($# == 2)) || { sed -n '10p' "$0" >&2; exit 2; }
dsm=$1 onnx=$2
ort_pkg=build/onnxruntime-node/node_modules/onnxruntime-node
for f in "$dsm" "$onnx" build/bench/engine_bench "$ort_pkg/package.json"; do
  [[ -e $f ]] || { echo "speed_modes.sh: $f not found (scripts/build.sh, scripts/install_onnxruntime.sh)" >&2; exit 1; }
done
# The input shape from `denseshift-run info` ("input: CxHxW floats ..."), as C,H,W.
shape=$(build/src/cli/denseshift-run info "$dsm" | sed -n 's/^input: \([0-9]*\)x\([0-9]*\)x\([0-9]*\) .*/\1,\2,\3/p')
[[ -n $shape ]] || { echo "speed_modes.sh: no input shape in 'denseshift-run info $dsm'" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
engine() { DS_BENCH_TIMES="$tmp/engine.txt" taskset -c 0 build/bench/engine_bench "$dsm" "$kernel" 1 1 "$runs" > /dev/null; }
ort() {
  taskset -c "$1" node bench/ort_child.js --ort "$PWD/$ort_pkg" --child ort --model "$onnx" --batch 1 --threads 1 \
    --shape "$shape" --runs "$runs" --times "$tmp/ort.txt"
}
if ((together)); then
  ort 1 &
  engine
  wait
else
  engine
  ort 0
fi
python3 - "$tmp" <<'PY'
import statistics, sys
for name in ("engine", "ort"):
    v = [float(l) for l in open(f"{sys.argv[1]}/{name}.txt")]
    s = sorted(v)
    fast = sum(x < 1.3 * s[0] for x in v) / len(v)
    print(f"{name:6s} {len(v)} runs: min {s[0]:.3f} p10 {s[len(v) // 10]:.3f} median {statistics.median(v):.3f} "
          f"p90 {s[len(v) * 9 // 10]:.3f} ms; within 1.3x of min: {100 * fast:.0f}%")
    print("       medians of 250-run stretches:", " ".join(f"{statistics.median(v[i:i + 250]):.2f}" for i in range(0, len(v), 250)))
PY
