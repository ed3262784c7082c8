// The AVX2 side of the tiled kernels: lane masks for the tails, and the ISA-neutral driver
// (tile_driver.h, which documents the Policy interface and the AVX2 tile tuning). Only included
// by units compiled with -mavx2 (and -mfma/-mf16c as their policy needs); internal linkage
// throughout, see internal.h.
#pragma once

#include <immintrin.h>

#include "kernels/tile_driver.h"

namespace ds::kernels::detail {
namespace {

// Lanes 0..count-1 all ones, the rest zero (count may be <= 0 or >= 8).
inline __m256i lane_mask(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Lanes 0..n-1 of v to y (n <= 0: none, n >= 8: all) with plain stores of 4, 2 and 1 lanes,
// never _mm256_maskstore_ps: on AMD Zen 3 a masked store is microcoded, about 20 cycles (6.6 ns
// against 3.7 for these stores, 7 lanes, in a loop of stores), and 7x7 and 14x14 layers end every
// row of tiles with 7 lanes. A masked load stays: it is cheap on every core.
inline void store_first_lanes(float* y, __m128 part, int n) {
  if (n >= 4) {
    _mm_storeu_ps(y, part);
    return;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(y), part);
    part = _mm_movehl_ps(part, part);
    y += 2, n -= 2;
  }
  if (n >= 1) _mm_store_ss(y, part);
}
inline void store_first_lanes(float* y, __m256 v, int n) {
  if (n >= 8) {
    _mm256_storeu_ps(y, v);
    return;
  }
  if (n > 4) {
    _mm_storeu_ps(y, _mm256_castps256_ps128(v));
    store_first_lanes(y + 4, _mm256_extractf128_ps(v, 1), n - 4);
    return;
  }
  store_first_lanes(y, _mm256_castps256_ps128(v), n);
}

// 8 floats, or only the first `rem` of them in a tile's last, partial column block.
template <bool kMasked>
inline __m256 load_f32x8(const float* x, int rem) {
  return kMasked ? _mm256_maskload_ps(x, lane_mask(rem)) : _mm256_loadu_ps(x);
}
template <bool kMasked>
inline void store_f32x8(float* y, __m256 v, int rem) {
  if constexpr (kMasked) {
    store_first_lanes(y, v, rem);
  } else {
    _mm256_storeu_ps(y, v);
  }
}

}  // namespace
}  // namespace ds::kernels::detail
