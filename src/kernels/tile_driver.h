// The loop structure shared by the SIMD kernels (AVX2 and NEON): tiles of R rows of M by V
// vectors of N, k ascending inside the tile. ISA-neutral: the Policy holds every intrinsic, so
// this compiles in whatever unit includes it (-mavx2, -march=armv8.2-a+fp16, ...); internal
// linkage throughout, see internal.h.
//
// Sharing one driver keeps the comparison between kernels fair: the exponent-add, decode + FMA,
// FP16 and zero-weight kernels differ only in their Policy, never in blocking or tail handling.
// Tile sizes are per Policy (kRows, kLanes, kV); the AVX2 ones were tuned as below, the NEON ones
// are chosen to fit ARM's 32 vector registers (neon_expadd.h).
//
// A Policy supplies
//   kWords              32-bit words one decoded weight takes in the scratch table
//   kRows               rows of M per tile (R)
//   kLanes, kV          floats one Prep covers (4 to 16), Preps per full tile along n (V)
//   decode(code, bits, out)          weight code -> kWords words (scalar, once per row)
//   Weight weight(const uint32_t*)   broadcasts one decoded weight
//   Prep load<kMasked>(x, rem)       activations -> whatever the products need from x alone
//                                    (computed once per k and shared by the R rows)
//   void step(Acc&, const Prep&, const Weight&)    acc += w * x
//   Acc zero(); void store<kMasked>(y, const Acc&, rem)
//
// AVX2 tile size: 6 rows x 16 floats (FP32: V = 2 vectors of 8; FP16: one of 16) was the fastest of
// R in 2..8 x V in 1..4 for both exponent add and decode + FMA on the development machine (an
// AMD EPYC, M=64 K=576 N=784, 3 bits). The tile does not fit the 16 YMM registers, so some
// accumulators live in L1; bigger R amortises the per-k Prep, which wins anyway. To be retuned
// with the benchmarks; the zero-weight baseline always uses the DenseShift kernel's tile.
//
// With kMasked, only the first `rem` (< kLanes) lanes are loaded (the rest read as +0, so they
// add nothing) or stored: a row of x or y may end at the end of its buffer.
#pragma once

#include "kernels/internal.h"

namespace ds::kernels::detail {
namespace {

template <class P, int R, int V, bool kMasked>
inline void tile(const GemmArgs& a, const uint32_t* dec, int m0, size_t n, int rem) {
  const size_t N = size_t(a.N);
  typename P::Acc acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = P::zero();
  for (int k = 0; k < a.K; ++k) {
    const float* x = a.x + size_t(k) * N + n;
    typename P::Prep xp[V];
    for (int v = 0; v < V; ++v) xp[v] = P::template load<kMasked>(x + v * P::kLanes, rem);
    const uint32_t* w = dec + size_t(k) * R * P::kWords;
    for (int r = 0; r < R; ++r) {
      const typename P::Weight wr = P::weight(w + r * P::kWords);
      for (int v = 0; v < V; ++v) P::step(acc[r][v], xp[v], wr);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* y = a.y + size_t(m0 + r) * N + n;
    for (int v = 0; v < V; ++v) P::template store<kMasked>(y + v * P::kLanes, acc[r][v], rem);
  }
}

template <class P, int R>
inline void row_block(const GemmArgs& a, uint32_t* dec, int m0) {
  // Decode the R rows once into a k-major table, so the tile loop reads the R weights of one k
  // from adjacent words and each row's codes are unpacked once, not once per tile.
  for (int r = 0; r < R; ++r) {
    const uint8_t* row = a.codes + size_t(m0 + r) * a.row_bytes;
    for_each_code(row, a.K, a.bits, [&](int k, unsigned code) {
      P::decode(code, a.bits, dec + (size_t(k) * R + size_t(r)) * P::kWords);
    });
  }
  const size_t N = size_t(a.N);
  constexpr size_t kFull = size_t(P::kLanes) * P::kV;
  size_t n = 0;
  for (; n + kFull <= N; n += kFull) tile<P, R, P::kV, false>(a, dec, m0, n, 0);
  if constexpr (P::kV > 1) {
    for (; n + P::kLanes <= N; n += P::kLanes) tile<P, R, 1, false>(a, dec, m0, n, 0);
  }
  if (n < N) tile<P, R, 1, true>(a, dec, m0, n, int(N - n));
}

// The last M % kRows rows, as one block of that many rows.
template <class P, int R>
inline void tail_rows(const GemmArgs& a, uint32_t* dec, int m, int left) {
  if constexpr (R > 0) {
    if (left == R) {
      row_block<P, R>(a, dec, m);
    } else {
      tail_rows<P, R - 1>(a, dec, m, left);
    }
  }
}

template <class P>
inline void run_gemm(const GemmArgs& a) {
  validate(a);
  if (a.M == 0 || a.N == 0) return;
  uint32_t* dec = scratch_words(size_t(a.K) * P::kRows * P::kWords);
  int m = 0;
  for (; m + P::kRows <= a.M; m += P::kRows) row_block<P, P::kRows>(a, dec, m);
  tail_rows<P, P::kRows - 1>(a, dec, m, a.M - m);
}

}  // namespace
}  // namespace ds::kernels::detail
