#!/usr/bin/env bash
# Regenerates docs/benchmarks.md and docs/benchmarks.png (the benchmark suite of issues 4, 13 and
# 15): builds the benchmarks (Release, in build/), installs ONNX Runtime from npm if it can
# (scripts/install_onnxruntime.sh; without it the ONNX Runtime rows say why they are missing),
# measures the machine's limits (bench_probe), runs the per-layer benchmark (bench_layers), the
# end-to-end one (bench_e2e: ResNet-18 and ResNet-20 against libtorch and ONNX Runtime) and the
# start-up one (bench_startup: one-image infer, deployment CLI vs training CLI), and writes the
# report with the targets' verdicts (bench_report), which it also prints: MET / MISSED by how much.
#
# usage: scripts/bench_report.sh [--quick] [--report-only] [--build-dir DIR] [--jobs N] [--layers-args "..."] [--e2e-args "..."]
#   --quick   smoke run (~2 minutes after the build): every code path, few rounds, short measurements;
#             bench_layers ends it with its estimate of the full run's per-layer part
#   default   the real run: median of 7 interleaved rounds everywhere, within 15 minutes on 2 cores
#             after the build (about 15 s probe, 4-6 min per layer, 6 min end to end, 30 s start-up
#             on an idle machine)
#   --report-only  rewrites the doc from the last run's results (BUILD_DIR/bench-results), e.g.
#             after editing docs/benchmarks_notes.md; measures nothing
# Run it on an otherwise idle machine: every contender uses all cores in half of the measurements.
# It prints the ETA of each step and of the whole run; bench_layers prints one per layer.
# Raw results stay in BUILD_DIR/bench-results/ (JSON, logs, the plot's data and gnuplot script).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 report_only=0 build=build jobs=$(nproc) layers_args="" e2e_args=""
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --report-only) report_only=1 ;;
    --build-dir) build=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --layers-args) layers_args=$2; shift ;;
    --e2e-args) e2e_args=$2; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench_report.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

res=$build/bench-results
# The end-to-end results: one file per network and setting (bench_e2e runs).
e2e_files() { local f s=""; for f in "$res"/e2e_*.json; do [ -f "$f" ] && s+="${s:+,}$f"; done; echo "$s"; }
doc=docs/benchmarks.md png=docs/benchmarks.png notes=docs/benchmarks_notes.md
if ((report_only)); then
  for f in probe.json layers.json e2e_resnet18.json machine.md commands.md; do
    [ -f "$res/$f" ] || { echo "bench_report.sh: --report-only needs $res/$f from a full run" >&2; exit 1; }
  done
  cmake --build "$build" --target bench_report > /dev/null
  load=$(sed -n 's/.*load average at the start \([0-9.]*\).*/\1/p' "$res/machine.md" | head -n1)
  plot_args=()
  if command -v gnuplot > /dev/null; then plot_args=(--plot-data "$res/plot.dat" --plot-script "$res/plot.gp" --plot-png "$png"); fi
  "$build/bench/bench_report" --probe "$res/probe.json" --layers "$res/layers.json" --e2e "$(e2e_files)" \
    --startup "$res/startup.json" --machine "$res/machine.md" --commands "$res/commands.md" --notes "$notes" --out "$doc" \
    "${plot_args[@]}" --load "${load:-0}" --llc-bytes "$(lscpu -B -C=NAME,ALL-SIZE 2>/dev/null | awk '$1 == "L3" {print $2}' | head -n1)"
  if ((${#plot_args[@]})); then gnuplot "$res/plot.gp" && echo "wrote $png"; fi
  exit 0
fi
t0=$(date +%s)
step() {  # step N TOTAL "what" ETA_SECONDS
  local el=$(($(date +%s) - t0))
  printf '\n[bench_report %s/%s, %dm%02ds] %s (about %s)\n' "$1" "$2" $((el / 60)) $((el % 60)) "$3" "$4"
}

# ETAs on 2 idle cores (a busy machine takes longer). The full run's per-layer part is what
# `bench_layers --quick` estimates for it ("a full run ... would take about N s"): keep it so that
# the whole run stays within 15 minutes, with --rounds / --min-ms, or fewer kernels (--skip-kernel).
# End to end (issue 15's settings): ResNet-18 at batch 1 and 8 on all cores, 2 and 1 threads;
# ResNet-18 batch 32 on 2 threads (throughput); ResNet-20 28x28 at batch 1 and 8 on 1 and 2 threads.
nt=$(nproc)
threads_list() { printf '%s\n' "$@" | awk -v n="$nt" '$1 <= n && !seen[$1]++' | paste -sd, -; }
if ((quick)); then
  probe_args="--quick" layers_run="--quick --fc-variants" e2e_common="--quick" startup_rounds=3
  e2e_runs=("resnet18|--threads $(threads_list "$nt") --batches 1" "resnet20|--threads 1 --batches 1")
  eta_probe="5 s" eta_layers="1-2 min" eta_e2e="1 min" eta_total="3-4 min"
else
  probe_args="--reps 9" layers_run="--rounds 7 --min-ms 30 --fc-variants" e2e_common="--rounds 7 --min-ms 300" startup_rounds=7
  e2e_runs=("resnet18|--threads $(threads_list "$nt" 2 1) --batches 1,8"
            "resnet18_b32|--model resnet18 --threads $(threads_list 2 "$nt") --batches 32 --rounds 5 --contenders ds,ds_fastest,ort,torch_mkldnn"
            "resnet20|--threads $(threads_list 1 2 "$nt") --batches 1,8")
  eta_probe="15 s" eta_layers="4-6 min" eta_e2e="5-7 min" eta_total="11-14 min (at most 15)"
fi
layers_run="$layers_run $layers_args"
echo "[bench_report] $( ((quick)) && echo 'smoke run (--quick)' || echo 'full run'): ETA $eta_total after the build, on an idle machine"

step 1 7 "building the benchmarks and both CLIs in $build/ (Release)" \
  "seconds if built, several minutes for a fresh build: libtorch's precompiled header"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
targets=(bench_probe bench_layers bench_report bench_startup bench_e2e_engine denseshift-run)
grep -q '^DENSESHIFT_BUILD_TRAIN:BOOL=ON' "$build/CMakeCache.txt" && targets+=(bench_e2e denseshift)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
for t in "${targets[@]}"; do
  f="$build/bench/$t"
  [[ $t == denseshift* ]] && f="$build/src/cli/$t"
  [ -x "$f" ] || { echo "bench_report.sh: $f was not built (see the cmake messages)" >&2; exit 1; }
done
t_built=$(date +%s)
mkdir -p "$res"
rm -f "$res"/probe.json "$res"/layers.json "$res"/e2e*.json "$res"/startup.json

step 2 7 "ONNX Runtime for the end-to-end comparison: scripts/install_onnxruntime.sh" "seconds if installed, up to a minute with npm"
ort_args=()
if ort_dir=$(bash scripts/install_onnxruntime.sh "$build/onnxruntime-node"); then
  ort_args=(--ort "$ort_dir")
else
  echo "bench_report.sh: WARNING: no ONNX Runtime (above): the ONNX Runtime rows and issue 15's targets are left out" >&2
fi

# OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after each call by default and would take a
# core from the next contender; 2^20 cycles (~0.3 ms, like libgomp's default spin) keeps them hot
# between back-to-back calls of one measurement only. bench_layers sets the same when it is unset.
# bench_e2e runs libtorch as a user would, with the environment this script was started with:
# its driver waits until every child stopped spinning before the next measurement.
e2e_env=()
[ -n "${OPENBLAS_THREAD_TIMEOUT+set}" ] || e2e_env=(env -u OPENBLAS_THREAD_TIMEOUT)
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-20}

# The 1-minute load average decays slowly after other work stops (from 7 to 0.5 takes about 3
# minutes): wait up to 4 minutes for it to fall below 0.5 before measuring, then go on either way
# (the report marks a loaded start).
load=$(cut -d' ' -f1 /proc/loadavg)
for ((w = 0; w < 48; ++w)); do
  awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' || break
  ((w == 0)) && echo "[bench_report] load average $load: waiting up to 4 minutes for it to fall below 0.5"
  sleep 5
  load=$(cut -d' ' -f1 /proc/loadavg)
done
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench_report.sh: WARNING: load average $load at the start: other processes share the cores, so the" \
    "timings (those on all cores most) will be noisy and the run will take longer than its ETA" >&2
fi

cmd_probe="$build/bench/bench_probe $probe_args --out $res/probe.json"
cmd_layers="$build/bench/bench_layers $layers_run --out $res/layers.json"

step 3 7 "machine limits: $cmd_probe" "$eta_probe"
$cmd_probe | tee "$res/probe.log"

step 4 7 "per-layer benchmark: $cmd_layers" "$eta_layers; it prints an ETA per layer"
$cmd_layers 2>&1 | tee "$res/layers.log"

cmds_e2e=()
if [[ " ${targets[*]} " == *" bench_e2e "* ]]; then
  step 5 7 "end to end: ${#e2e_runs[@]} bench_e2e runs" "$eta_e2e"
  for run in "${e2e_runs[@]}"; do
    tag=${run%%|*} args=${run#*|}
    model=${tag%%_*}
    [[ $args == *--model* ]] || args="--model $model $args"
    save=() ; [ "$tag" = resnet18 ] && save=(--save-model "$res/resnet18_ds3.dsm")
    # the run's own settings after the common ones: the later flag wins (batch 32 takes 5 rounds)
    cmd=("${e2e_env[@]}" "$build/bench/bench_e2e" $e2e_common $args $e2e_args "${ort_args[@]}" "${save[@]}" --out "$res/e2e_$tag.json")
    cmds_e2e+=("${cmd[*]}")
    echo "[bench_report] ${cmd[*]}"
    "${cmd[@]}" 2>&1 | tee "$res/e2e_$tag.log"
  done
else
  step 5 7 "end to end skipped: configured with DENSESHIFT_BUILD_TRAIN=OFF" "0 s"
  cmds_e2e=("(not run: DENSESHIFT_BUILD_TRAIN=OFF)")
fi

# Start-up: one image through infer, the deployment CLI against the training CLI, on the reference
# model (the README's) and on ResNet-18 (bench_e2e's model file), one thread.
img=tests/cli/data/gradient_40x30.png
startup=("$build/bench/bench_startup" --rounds "$startup_rounds" --out "$res/startup.json")
for m in tests/runtime/data/smallcnn_fmnist_ds3.dsm "$res/resnet18_ds3.dsm"; do
  [ -f "$m" ] || continue
  n=$(basename "$m" .dsm)
  startup+=("run_$n=$build/src/cli/denseshift-run" infer "$m" "$img" --threads 1)
  [ -x "$build/src/cli/denseshift" ] && startup+=("cli_$n=$build/src/cli/denseshift" infer "$m" "$img" --threads 1)
done
cmd_startup="${startup[*]}"
step 6 7 "start-up: $cmd_startup" "30 s"
"${startup[@]}" 2>&1 | tee "$res/startup.log"

step 7 7 "writing $doc and $png" "seconds"
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16' | tr '\n' ' ' || true)
cache() { lscpu | sed -n "s/^$1 cache: *//p" | head -n1; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src bench scripts cmake CMakeLists.txt 2>/dev/null || commit="$commit (with uncommitted changes to the code)"
{
  echo "| | |"
  echo "|---|---|"
  echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -n1) ($(uname -m)) |"
  echo "| cores | $(nproc) ($(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -n1) thread(s) per core) |"
  echo "| flags | $flags |"
  echo "| caches | L1d $(cache L1d), L2 $(cache L2), L3 $(cache L3) |"
  echo "| memory | $(free -g | awk '/^Mem:/ {print $2}') GiB |"
  echo "| kernel | $(uname -r) $(grep -q hypervisor /proc/cpuinfo && echo '(virtual machine)') |"
  echo "| compiler | $(c++ --version | head -n1) |"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC'), load average at the start $load |"
  echo "| commit | $commit |"
  if [ -f "$res/layers.json" ]; then
    echo "| oneDNN | $(sed -n 's/.*"onednn": "\([^"]*\)".*/\1/p' "$res/layers.json" | head -n1) |"
    echo "| OpenBLAS | $(sed -n 's/.*"openblas": "\([^"]*\)".*/\1/p' "$res/layers.json" | head -n1) |"
  fi
} > "$res/machine.md"
{
  echo '```sh'
  echo "scripts/bench_report.sh $([ $quick = 1 ] && echo --quick)   # runs what follows"
  echo "export OPENBLAS_THREAD_TIMEOUT=$OPENBLAS_THREAD_TIMEOUT"
  echo "$cmd_probe"
  echo "$cmd_layers"
  printf '%s\n' "${cmds_e2e[@]}"
  echo "$cmd_startup"
  echo "$build/bench/bench_report --probe $res/probe.json --layers $res/layers.json --e2e $res/e2e_*.json --startup $res/startup.json ... --out $doc"
  echo '```'
} > "$res/commands.md"
plot_args=()
if command -v gnuplot > /dev/null; then plot_args=(--plot-data "$res/plot.dat" --plot-script "$res/plot.gp" --plot-png "$png"); fi
"$build/bench/bench_report" --probe "$res/probe.json" --layers "$res/layers.json" --e2e "$(e2e_files)" \
  --startup "$res/startup.json" --machine "$res/machine.md" --commands "$res/commands.md" --notes "$notes" --out "$doc" "${plot_args[@]}" \
  --load "$load" --llc-bytes "$(lscpu -B -C=NAME,ALL-SIZE 2>/dev/null | awk '$1 == "L3" {print $2}' | head -n1)"
if ((${#plot_args[@]})); then
  gnuplot "$res/plot.gp" && echo "wrote $png"
else
  echo "bench_report.sh: gnuplot not found, no $png (scripts/setup.sh installs gnuplot-nox)" >&2
fi
el=$(($(date +%s) - t0))
eb=$(($(date +%s) - t_built))
printf '[bench_report] done in %dm%02ds, %dm%02ds after the build (ETA was %s)\n' $((el / 60)) $((el % 60)) $((eb / 60)) \
  $((eb % 60)) "$eta_total"
