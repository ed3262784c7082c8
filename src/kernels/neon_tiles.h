// The NEON side of the tiled kernels: partial loads and stores for the tails, and the
// ISA-neutral driver (tile_driver.h). Only built for aarch64, where Advanced SIMD is baseline;
// included by units with and without +fp16, hence internal linkage throughout (internal.h).
//
// NEON has no masked loads, so a tail goes through a small stack buffer: only the `rem` floats
// inside the row are read or written, which keeps the guard-page test (test_registry.cpp) happy.
#pragma once

#include <arm_neon.h>

#include "kernels/tile_driver.h"

namespace ds::kernels::detail {
namespace {

// Floats x[0..count) (count may exceed 4: it is clamped), the other lanes +0.
inline float32x4_t load_f32_partial(const float* x, int count) {
  float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int i = 0; i < count && i < 4; ++i) t[i] = x[i];
  return vld1q_f32(t);
}

inline void store_f32_partial(float* y, float32x4_t v, int count) {
  float t[4];
  vst1q_f32(t, v);
  for (int i = 0; i < count && i < 4; ++i) y[i] = t[i];
}

// 4 floats, or only the first `rem` of them in a tile's last, partial column block.
template <bool kMasked>
inline float32x4_t load_f32x4(const float* x, int rem) {
  return kMasked ? load_f32_partial(x, rem) : vld1q_f32(x);
}
template <bool kMasked>
inline void store_f32x4(float* y, float32x4_t v, int rem) {
  if constexpr (kMasked) {
    store_f32_partial(y, v, rem);
  } else {
    vst1q_f32(y, v);
  }
}

}  // namespace
}  // namespace ds::kernels::detail
