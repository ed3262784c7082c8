// The NEON FP32 exponent-add product, as a policy for tile_driver.h. Shared by f32_expadd_neon
// (DenseShift codes) and f32_shiftzero_neon (codes with a zero weight), which differ only in
// kZero: the extra per-weight AND the zero weight costs.
//
// Per lane, with b = bits(x) (sign included) and w = +-2^p:
//   t    = min_u32(sat_add_u32(b, p << 23), cap)   cap = max_u32(b, sign(x) | inf) if x is
//                                                        normal/inf/NaN, else 0
//   prod = t ^ sign(w)
// Keeping x's sign inside b (rather than splitting off the magnitude as the AVX2 policy does)
// saves one operation per row and vector: the add works on negative patterns too, and where it
// would carry out of 32 bits (a negative x that overflows) the saturating add stops at
// 0xffffffff, which the cap 0xff800000 (-inf) then clamps. So:
//   normal x, no overflow:  b + (p << 23) < sign | inf <= cap     -> the exponent add
//   normal x, overflow:     >= sign | inf = cap                    -> +-inf, as IEEE rounds it
//   inf or NaN x:           cap = b <= sat_add(b, ...)             -> x itself (then sign(w))
//   +-0 or subnormal x:     cap = 0                                -> +-0: adds nothing
// The same rules as f32_expadd_avx2: subnormal x flushed, else bit-equal to f32_expadd_scalar.
//
// Tile: 6 rows x 8 floats (2 vectors): 12 accumulators + 4 Prep vectors + 2-3 weights fit the
// 32 NEON registers with room to spare; not tuned on hardware yet (docs/arm.md).
#pragma once

#include "kernels/neon_tiles.h"

namespace ds::kernels::detail {
namespace {

template <bool kZero>
struct ExpAddF32Neon {
  // add, sign[, keep mask], each stored 4 times: the decoded table is read with whole-vector
  // loads (LDP of two Q registers) instead of a scalar load and DUP per word, which GCC emits
  // for vld1q_dup here; that saved 12 of ~97 instructions per k in the 6 x 8 tile.
  static constexpr int kWords = (kZero ? 3 : 2) * 4;
  static constexpr int kRows = 6, kLanes = 4, kV = 2;

  static void decode(unsigned code, int bits, uint32_t* out) {
    const int e = core::code_exponent(uint8_t(code), bits);
    uint32_t add = uint32_t(e) << 23, keep = 0xffffffffu;
    if constexpr (kZero) {
      // Shift with zero: E = 0 is the weight 0 (keep = 0), E >= 1 is +-2^(E-1).
      add = e == 0 ? 0u : uint32_t(e - 1) << 23;
      keep = e == 0 ? 0u : 0xffffffffu;
    }
    const uint32_t sign = core::code_negative(uint8_t(code), bits) ? 0x80000000u : 0u;
    for (int i = 0; i < 4; ++i) {
      out[i] = add;
      out[4 + i] = sign;
      if constexpr (kZero) out[8 + i] = keep;
    }
  }

  struct Weight {
    uint32x4_t add, sign, keep;
  };
  static Weight weight(const uint32_t* w) {
    Weight r;
    r.add = vld1q_u32(w);
    r.sign = vld1q_u32(w + 4);
    r.keep = kZero ? vld1q_u32(w + 8) : vdupq_n_u32(0);
    return r;
  }

  struct Prep {
    uint32x4_t b, cap;
  };
  template <bool kMasked>
  static Prep load(const float* x, int rem) {
    const uint32_t kSign = 0x80000000u;
    const uint32x4_t b = vreinterpretq_u32_f32(load_f32x4<kMasked>(x, rem));
    // |x| > largest subnormal: the exponent field is not 0.
    const uint32x4_t live =
        vcgtq_u32(vandq_u32(b, vdupq_n_u32(~kSign)), vdupq_n_u32(0x007fffffu));
    const uint32x4_t signed_inf = vbslq_u32(vdupq_n_u32(kSign), b, vdupq_n_u32(0x7f800000u));
    return Prep{b, vandq_u32(vmaxq_u32(b, signed_inf), live)};
  }

  using Acc = float32x4_t;
  static Acc zero() { return vdupq_n_f32(0.0f); }
  static void step(Acc& acc, const Prep& x, const Weight& w) {
    uint32x4_t t = vminq_u32(vqaddq_u32(x.b, w.add), x.cap);
    if constexpr (kZero) t = vandq_u32(t, w.keep);  // the mask zero-free codes avoid
    acc = vaddq_f32(acc, vreinterpretq_f32_u32(veorq_u32(t, w.sign)));
  }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) { store_f32x4<kMasked>(y, acc, rem); }
};

}  // namespace
}  // namespace ds::kernels::detail
