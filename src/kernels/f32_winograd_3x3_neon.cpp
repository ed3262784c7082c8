// f32_winograd_3x3_neon: Winograd F(2x2, 3x3) and F(4x4, 3x3) (winograd.h, algorithm in
// winograd_impl.h) with Advanced SIMD: a vector of 16 lanes is four Q registers, so the product's
// register tile is 16 channels x 6 tiles in 24 accumulators, plus four for U and one broadcast:
// 29 of the 32 registers. A tile's every m-th input column is what VLD2 (m = 2) and VLD4 (m = 4)
// de-interleave; the codes are decoded by winograd_impl.h's portable loop.
#include <arm_neon.h>

#include "kernels/neon_tiles.h"
#include "kernels/winograd_impl.h"

namespace ds::kernels::detail {
namespace {

struct Q4x4 {
  // The product's register tile (winograd_impl.h): one block x one group, whose 6 accumulators of
  // four Q registers each already fill most of the register file.
  static constexpr int kGroup = kWinogradGroupNeon;  // tiles per group
  static constexpr int kTileBlocks = 1, kTileGroups = 1;
  struct T {
    float32x4_t q[4];
  };
  template <class F>
  static T map(F f) {
    return T{{f(0), f(1), f(2), f(3)}};
  }
  static T load(const float* p) {
    return map([&](int i) { return vld1q_f32(p + 4 * i); });
  }
  static void store(float* p, T v) {
    for (int i = 0; i < 4; ++i) vst1q_f32(p + 4 * i, v.q[i]);
  }
  static void store_first(float* p, T v, int n) {
    for (int i = 0; i < 4; ++i) {
      if (n >= 4 * i + 4)
        vst1q_f32(p + 4 * i, v.q[i]);
      else if (n > 4 * i)
        store_f32_partial(p + 4 * i, v.q[i], n - 4 * i);
    }
  }
  static T load_first(const float* p, int n) {
    return map([&](int i) { return n >= 4 * i + 4 ? vld1q_f32(p + 4 * i) : load_f32_partial(p + 4 * i, n - 4 * i); });
  }
  static T zero() { return set1(0.f); }
  static T set1(float f) {
    return map([&](int) { return vdupq_n_f32(f); });
  }
  static T add(T a, T b) {
    return map([&](int i) { return vaddq_f32(a.q[i], b.q[i]); });
  }
  static T sub(T a, T b) {
    return map([&](int i) { return vsubq_f32(a.q[i], b.q[i]); });
  }
  static T mul(T a, T b) {
    return map([&](int i) { return vmulq_f32(a.q[i], b.q[i]); });
  }
  static T fmadd(T a, T b, T c) {
    return map([&](int i) { return vfmaq_f32(c.q[i], a.q[i], b.q[i]); });
  }
  static T fnmadd(T a, T b, T c) {
    return map([&](int i) { return vfmsq_f32(c.q[i], a.q[i], b.q[i]); });
  }
  static T fma_bcast(T acc, T u, const float* p) {
    const float32x4_t b = vld1q_dup_f32(p);
    return map([&](int i) { return vfmaq_f32(acc.q[i], u.q[i], b); });
  }
  // Lanes 4i .. 4i+3 of r[kM * l + j]: one de-interleaving load per quarter.
  template <int kM>
  static T strided(const float* r, int j) {
    const float* p = r + j / kM * kM;
    if constexpr (kM == 2) {
      return map([&](int i) { return vld2q_f32(p + 8 * i).val[j % 2]; });
    } else {
      return map([&](int i) { return vld4q_f32(p + 16 * i).val[j % 4]; });
    }
  }
};

}  // namespace

void winograd_input_f32_3x3_neon(const WinogradInputArgs& a) { wino_input_any<Q4x4>(a); }
void winograd_product_f32_3x3_neon(const WinogradProductArgs& a) { wino_product_any<Q4x4>(a); }
void winograd_weights_f32_3x3_neon(const WinogradWeightsArgs& a) { wino_weights_any<Q4x4>(a); }

}  // namespace ds::kernels::detail
