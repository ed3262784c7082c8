#!/usr/bin/env bash
# Whole-network A/B of engine kernels (and of engine builds), interleaved round by round; prints
# the median of each contender's per-round medians. The figures quoted by hand in
# docs/benchmarks_notes.md and src/kernels/registry.cpp ("7 interleaved rounds") come from it.
#
#   scripts/ab_engine.sh [-b ENGINE_BENCH]... MODEL.dsm THREADS ROUNDS KERNEL...
#
# A contender is one (engine_bench binary, kernel) pair: -b adds a binary (default
# build/bench/engine_bench), e.g. a clean clone's build of the commit before a change. Each round
# runs every contender once (`engine_bench MODEL KERNEL THREADS 1 30`: batch 1, median of 30 runs).
# Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bins=()
while getopts "b:" opt; do
  case $opt in
    b) bins+=("$OPTARG") ;;
    *) sed -n '7p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# >= 4)) || { sed -n '7p' "$0" >&2; exit 2; }
model=$1 threads=$2 rounds=$3
shift 3
((${#bins[@]})) || bins=(build/bench/engine_bench)
declare -A times
for _ in $(seq "$rounds"); do
  for b in "${bins[@]}"; do
    for k in "$@"; do
      t=$("$b" "$model" "$k" "$threads" 1 30 | grep -o 'median [0-9.]*' | awk '{print $2}')
      times["$b $k"]+="$t "
    done
  done
done
for b in "${bins[@]}"; do
  for k in "$@"; do
    echo "$b $k: median $(tr ' ' '\n' <<< "${times["$b $k"]}" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') ms [${times["$b $k"]% }]"
  done
done
