#!/usr/bin/env bash
# Whole-network A/B of engine kernels (and of engine builds), interleaved round by round; prints
# the median of each contender's per-round medians. The figures quoted by hand in
# docs/benchmarks_notes.md and src/kernels/registry.cpp ("7 interleaved rounds") come from it.
#
#   scripts/ab_engine.sh [-l [-m]] [-b ENGINE_BENCH]... MODEL.dsm THREADS ROUNDS KERNEL...
#
# A contender is one (engine_bench binary, kernel) pair: -b adds a binary (default
# build/bench/engine_bench), e.g. a clean clone's build of the commit before a change. Each round
# runs every contender once (`engine_bench MODEL KERNEL THREADS 1 30`: batch 1, median of 30 runs).
# -l: per layer instead, from the engine's own timer (`DS_PROFILE=1 engine_bench MODEL KERNEL
# THREADS 1 15`): each layer's median over every timed run of every round (engine_bench's warm-up
# run left out), one column per contender, and their sums.
# -m (with -l): each layer's minimum instead of its median, for a machine whose speed swings from
# minute to minute (session 14's AMD Zen 3: 2x), where a median mixes fast and slow minutes; pin
# it to one core for 1 thread (`taskset -c 0 scripts/ab_engine.sh -l -m ...`).
# Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bins=()
layers=0 stat=median
while getopts "b:lm" opt; do
  case $opt in
    b) bins+=("$OPTARG") ;;
    l) layers=1 ;;
    m) stat=min ;;
    *) sed -n '6p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# >= 4)) || { sed -n '6p' "$0" >&2; exit 2; }
model=$1 threads=$2 rounds=$3
shift 3
((${#bins[@]})) || bins=(build/bench/engine_bench)
if ((layers)); then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  columns=()
  for _ in $(seq "$rounds"); do
    i=0
    for b in "${bins[@]}"; do
      for k in "$@"; do
        DS_PROFILE=1 "$b" "$model" "$k" "$threads" 1 15 2>> "$tmp/$i.txt" > /dev/null
        i=$((i + 1))
      done
    done
  done
  for b in "${bins[@]}"; do
    for k in "$@"; do columns+=("$b $k"); done
  done
  printf '%s\n' "${columns[@]}" > "$tmp/names.txt"
  python3 - "$tmp" "${#columns[@]}" "$stat" <<'PY'
import re, statistics, sys
tmp, n, stat = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pick = min if stat == "min" else statistics.median
names = open(f"{tmp}/names.txt").read().splitlines()
cols, layers = [], []
for i in range(n):
    rows = [l.split(" | ") for l in open(f"{tmp}/{i}.txt") if l.startswith("[profile]")]
    runs, cur = [], []
    for r in rows:
        idx = int(re.sub(r"\D", "", r[0]))
        if idx == 0 and cur:
            runs.append(cur)
            cur = []
        cur.append((r[1], float(r[3].split()[0])))
    if cur:
        runs.append(cur)
    # 16 runs a round (engine_bench's warm-up, then 15): drop each round's first.
    kept = [r for j, r in enumerate(runs) if j % 16 >= 1]
    layers = [name for name, _ in kept[0]]
    cols.append([pick(r[l][1] for r in kept) for l in range(len(layers))])
for c, name in enumerate(names):
    print(f"column {c + 1}: {name}")
for l, name in enumerate(layers):
    print(f"{l:3d} {name[:52]:52s} " + " ".join(f"{col[l]:9.4f}" for col in cols))
print(f"    {'sum of layer ' + ('minima' if stat == 'min' else 'medians'):52s} " + " ".join(f"{sum(col):9.3f}" for col in cols))
PY
  exit 0
fi
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
