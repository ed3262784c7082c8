#!/usr/bin/env bash
# Executed x86 instructions per product of the blocked DenseShift kernels against their zero-weight
# sibling, under callgrind (valgrind), for machines whose hardware counters perf cannot read
# (virtual machines such as the development one). The same program and method as
# bench/arm_insn_count.sh: bench/arm_insn_count.cpp (portable) runs one kernel on M = 48, K = 64,
# 3-bit codes; one call = (run with 2 calls) - (run with 1 call), at N = 64 and 256, and the
# difference between the two widths per added output and k is the tile loop alone (the panel
# kernels also repack the weights and x per call there, which scales with M*K and K*N).
# Valgrind has no AVX-512, so the CPU it shows lacks it and the AVX2 kernels are what run: the
# pair issue 4's DenseShift-vs-zero-weight target measures. Needs build/ (scripts/build.sh or
# scripts/test.sh) and valgrind (scripts/setup.sh installs it). Regenerates the table in
# docs/benchmarks_notes.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "x86_insn_count.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[[ -f build/src/kernels/libdenseshift_kernels.a ]] || { echo "x86_insn_count.sh: build/ first (scripts/test.sh)" >&2; exit 1; }
out=build/x86_insn_count
g++ -std=c++17 -O2 -Wall -Wextra -Isrc bench/arm_insn_count.cpp \
  build/src/kernels/libdenseshift_kernels.a build/src/core/libdenseshift_core.a -o "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() {  # instructions executed by: x86_insn_count KERNEL REPS N
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$out" "$@" > /dev/null 2>&1
  awk '/^summary:/ {print $2}' "$tmp/cg.out"
}

shape=$("$out" none 0 64)
read -r M K N <<< "$(sed -E 's/M=([0-9]+) K=([0-9]+) N=([0-9]+).*/\1 \2 \3/' <<< "$shape")"
echo "shape: $shape ($(valgrind --version), $(c++ --version | head -n1))"
N2=256
printf '| kernel | instructions per call (N=%d) | per output per k (N=%d) | per output per k, tile loop only |\n' "$N" "$N"
printf '|---|---|---|---|\n'
for k in f32_pgemm_expadd_6x16_avx2 f32_pgemm_shiftzero_6x16_avx2 f32_pgemm_fma_6x16_avx2 f32_pgemm_hybrid_6x16_avx2; do
  d=$(($(count "$k" 2 "$N") - $(count "$k" 1 "$N")))
  d2=$(($(count "$k" 2 "$N2") - $(count "$k" 1 "$N2")))
  awk -v k="$k" -v d="$d" -v d2="$d2" -v M="$M" -v N="$N" -v N2="$N2" -v K="$K" \
    'BEGIN {printf "| %s | %d | %.3f | %.3f |\n", k, d, d / (M * N * K), (d2 - d) / (M * (N2 - N) * K)}'
done
