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

// 8 floats, or only the first `rem` of them in a tile's last, partial column block.
template <bool kMasked>
inline __m256 load_f32x8(const float* x, int rem) {
  return kMasked ? _mm256_maskload_ps(x, lane_mask(rem)) : _mm256_loadu_ps(x);
}
template <bool kMasked>
inline void store_f32x8(float* y, __m256 v, int rem) {
  if constexpr (kMasked) {
    _mm256_maskstore_ps(y, lane_mask(rem), v);
  } else {
    _mm256_storeu_ps(y, v);
  }
}

}  // namespace
}  // namespace ds::kernels::detail
