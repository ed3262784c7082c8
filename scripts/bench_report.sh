#!/usr/bin/env bash
# Regenerates docs/benchmarks.md and docs/benchmarks.png (issue 4's benchmark suite): builds the
# benchmarks (Release, in build/), measures the machine's limits (bench_probe), runs the per-layer
# benchmark (bench_layers) and the end-to-end one (bench_e2e), and writes the report with the
# targets' verdicts (bench_report), which it also prints: MET / MISSED by how much.
#
# usage: scripts/bench_report.sh [--quick] [--report-only] [--build-dir DIR] [--jobs N] [--layers-args "..."] [--e2e-args "..."]
#   --quick   smoke run (~2 minutes after the build): every code path, few rounds, short measurements;
#             bench_layers ends it with its estimate of the full run's per-layer part
#   default   the real run: median of 7 interleaved rounds everywhere, within 15 minutes on 2 cores
#             after the build (about 15 s probe, 4-6 min per layer, 1.5 min end to end on an idle machine)
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
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench_report.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

res=$build/bench-results
doc=docs/benchmarks.md png=docs/benchmarks.png notes=docs/benchmarks_notes.md
if ((report_only)); then
  for f in probe.json layers.json e2e.json machine.md commands.md; do
    [ -f "$res/$f" ] || { echo "bench_report.sh: --report-only needs $res/$f from a full run" >&2; exit 1; }
  done
  cmake --build "$build" --target bench_report > /dev/null
  load=$(sed -n 's/.*load average at the start \([0-9.]*\).*/\1/p' "$res/machine.md" | head -n1)
  plot_args=()
  if command -v gnuplot > /dev/null; then plot_args=(--plot-data "$res/plot.dat" --plot-script "$res/plot.gp" --plot-png "$png"); fi
  "$build/bench/bench_report" --probe "$res/probe.json" --layers "$res/layers.json" --e2e "$res/e2e.json" \
    --machine "$res/machine.md" --commands "$res/commands.md" --notes "$notes" --out "$doc" "${plot_args[@]}" \
    --load "${load:-0}" --llc-bytes "$(lscpu -B -C=NAME,ALL-SIZE 2>/dev/null | awk '$1 == "L3" {print $2}' | head -n1)"
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
if ((quick)); then
  probe_args="--quick" layers_run="--quick --fc-variants" e2e_run="--quick"
  eta_probe="5 s" eta_layers="1-2 min" eta_e2e="30 s" eta_total="2-3 min"
else
  probe_args="" layers_run="--rounds 7 --min-ms 30 --fc-variants" e2e_run="--rounds 7 --min-ms 300 --batches 1,8"
  eta_probe="15 s" eta_layers="4-6 min" eta_e2e="1.5 min" eta_total="6-8 min (at most 15)"
fi
layers_run="$layers_run $layers_args" e2e_run="$e2e_run $e2e_args"
echo "[bench_report] $( ((quick)) && echo 'smoke run (--quick)' || echo 'full run'): ETA $eta_total after the build, on an idle machine"

step 1 5 "building bench_probe, bench_layers, bench_e2e, bench_report in $build/ (Release)" \
  "seconds if built, several minutes for a fresh build: libtorch's precompiled header"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
targets=(bench_probe bench_layers bench_report)
grep -q '^DENSESHIFT_BUILD_TRAIN:BOOL=ON' "$build/CMakeCache.txt" && targets+=(bench_e2e)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
for t in "${targets[@]}"; do
  [ -x "$build/bench/$t" ] || { echo "bench_report.sh: $build/bench/$t was not built (see the cmake messages)" >&2; exit 1; }
done
t_built=$(date +%s)
mkdir -p "$res"
rm -f "$res"/probe.json "$res"/layers.json "$res"/e2e.json

# OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after each call by default and would take a
# core from the next contender; 2^20 cycles (~0.3 ms, like libgomp's default spin) keeps them hot
# between back-to-back calls of one measurement only. bench_layers sets the same when it is unset.
# bench_e2e runs libtorch as a user would, with the environment this script was started with:
# its driver waits until every child stopped spinning before the next measurement.
e2e_env=()
[ -n "${OPENBLAS_THREAD_TIMEOUT+set}" ] || e2e_env=(env -u OPENBLAS_THREAD_TIMEOUT)
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-20}

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "bench_report.sh: WARNING: load average $load at the start: other processes share the cores, so the" \
    "timings (those on all cores most) will be noisy and the run will take longer than its ETA" >&2
fi

cmd_probe="$build/bench/bench_probe $probe_args --out $res/probe.json"
cmd_layers="$build/bench/bench_layers $layers_run --out $res/layers.json"
cmd_e2e="${e2e_env[*]}${e2e_env:+ }$build/bench/bench_e2e $e2e_run --out $res/e2e.json"

step 2 5 "machine limits: $cmd_probe" "$eta_probe"
$cmd_probe | tee "$res/probe.log"

step 3 5 "per-layer benchmark: $cmd_layers" "$eta_layers; it prints an ETA per layer"
$cmd_layers 2>&1 | tee "$res/layers.log"

if [[ " ${targets[*]} " == *" bench_e2e "* ]]; then
  step 4 5 "end to end: $cmd_e2e" "$eta_e2e"
  "${e2e_env[@]}" "$build/bench/bench_e2e" $e2e_run --out "$res/e2e.json" 2>&1 | tee "$res/e2e.log"
else
  step 4 5 "end to end skipped: configured with DENSESHIFT_BUILD_TRAIN=OFF" "0 s"
  cmd_e2e="(not run: DENSESHIFT_BUILD_TRAIN=OFF)"
fi

step 5 5 "writing $doc and $png" "seconds"
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
  echo "$cmd_e2e"
  echo "$build/bench/bench_report --probe $res/probe.json --layers $res/layers.json --e2e $res/e2e.json ... --out $doc"
  echo '```'
} > "$res/commands.md"
plot_args=()
if command -v gnuplot > /dev/null; then plot_args=(--plot-data "$res/plot.dat" --plot-script "$res/plot.gp" --plot-png "$png"); fi
"$build/bench/bench_report" --probe "$res/probe.json" --layers "$res/layers.json" --e2e "$res/e2e.json" \
  --machine "$res/machine.md" --commands "$res/commands.md" --notes "$notes" --out "$doc" "${plot_args[@]}" \
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
