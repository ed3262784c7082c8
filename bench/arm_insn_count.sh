#!/usr/bin/env bash
# Dynamic aarch64 instruction counts of the NEON kernels, per output element, under qemu-user.
# Debian's qemu-user-static has no TCG plugins, so this uses qemu's own logging: with
# -d in_asm,exec,nochain every executed translation block is logged, and the in_asm listing
# gives each block's instruction count. One kernel call = (run with 2 calls) - (run with 1 call),
# so start-up, allocation and the first call's scratch growth cancel out. Two widths N = 64 and
# N = 256: the first includes unpacking the codes (once per row and call, M * K codes); the
# difference between them, per added output element, is the steady-state cost of the tile loop.
# Needs build-arm (scripts/test_arm.sh). Regenerates the table in docs/arm.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-arm/arm_insn_count
aarch64-linux-gnu-g++ -std=c++17 -O2 -Wall -Wextra -static -Isrc bench/arm_insn_count.cpp \
  build-arm/src/kernels/libdenseshift_kernels.a build-arm/src/core/libdenseshift_core.a -o "$out"

count() {  # instructions executed by: $out ARGS... (arm_insn_count KERNEL REPS N)
  local log
  log=$(mktemp)
  QEMU_CPU=max qemu-aarch64-static -d in_asm,exec,nochain -D "$log" "$out" "$@" > /dev/null
  awk '/^IN:/ {pc = ""; next}
       /^0x[0-9a-f]+:/ {if (pc == "") {pc = substr($1, 1, length($1) - 1); n[pc] = 0} n[pc]++; next}
       /^$/ {pc = ""}
       /^Trace/ {split($4, f, "/"); t = "0x" substr(f[2], 9); total += n[t]}
       END {print total}' "$log"
  rm -f "$log"
}

shape=$(QEMU_CPU=max qemu-aarch64-static "$out" none 0 64)
read -r M K N <<< "$(sed -E 's/M=([0-9]+) K=([0-9]+) N=([0-9]+).*/\1 \2 \3/' <<< "$shape")"
echo "shape: $shape"
N2=256
printf '| kernel | instructions per call (N=%d) | per output (N=%d) | per output per k (N=%d) | per output per k, tile loop only |\n' "$N" "$N" "$N"
printf '|---|---|---|---|---|\n'
for k in f32_shiftzero_neon f32_expadd_neon f32_decode_fmla_neon f16_expadd_neon \
         f16_expadd_fp16arith_neon f32_expadd_scalar f32_shiftzero_scalar; do
  d=$(($(count "$k" 2 "$N") - $(count "$k" 1 "$N")))
  d2=$(($(count "$k" 2 "$N2") - $(count "$k" 1 "$N2")))
  awk -v k="$k" -v d="$d" -v d2="$d2" -v M="$M" -v N="$N" -v N2="$N2" -v K="$K" \
    'BEGIN {printf "| %s | %d | %.1f | %.2f | %.2f |\n", k, d, d / (M * N), d / (M * N * K),
            (d2 - d) / (M * (N2 - N) * K)}'
done

# Whole layers through the engine: a stride-1 3x3 convolution, one thread, per multiply-add of the
# direct convolution (Winograd does fewer). One run = (2 runs) - (1 run): the model load cancels.
conv=build-arm/arm_conv_insn_count
aarch64-linux-gnu-g++ -std=c++17 -O2 -Wall -Wextra -static -Isrc bench/arm_conv_insn_count.cpp \
  build-arm/src/runtime/libdenseshift_runtime.a build-arm/src/kernels/libdenseshift_kernels.a \
  build-arm/src/core/libdenseshift_core.a -pthread -o "$conv"
count_conv() {  # instructions executed by: arm_conv_insn_count KERNEL REPS C HW
  local out=$conv
  count "$@"
}
echo
printf '| kernel | 3x3 conv 32->32 at 28x28 (F(4x4)): instructions per run | per multiply-add | 3x3 conv 64->64 at 14x14 (F(4x4), U kept): per run | per multiply-add |\n'
printf '|---|---|---|---|---|\n'
for k in f32_expadd_neon f32_shiftzero_neon f32_decode_fmla_neon f32_winograd_3x3_neon; do
  a=$(($(count_conv "$k" 2 32 28) - $(count_conv "$k" 1 32 28)))
  b=$(($(count_conv "$k" 2 64 14) - $(count_conv "$k" 1 64 14)))
  awk -v k="$k" -v a="$a" -v b="$b" 'BEGIN {printf "| %s | %d | %.3f | %d | %.3f |\n", k, a, a / (32 * 32 * 9 * 28 * 28), b, b / (64 * 64 * 9 * 14 * 14)}'
done
