// The NEON FP16 exponent-add product, shared by f16_expadd_neon (FP32 sums, ARMv8.0) and
// f16_expadd_fp16arith_neon (FP16 sums, ARMv8.2 FP16 arithmetic): the two policies differ only
// in their accumulator, so this base holds decode, weight, load and the product.
//
// Each k row of x is rounded to FP16 (FCVTN, round to nearest even per FPCR: |x| >= 65520
// becomes inf), 8 lanes per vector. The product is the FP32 rule of neon_expadd.h on 16-bit
// lanes, h = the FP16 pattern with its sign:
//   t = min_u16(sat_add_u16(h, P << 10), cap)   cap = max_u16(h, sign(h) | 0x7c00) for normal,
//   prod = t ^ sign(w)                                inf and NaN h, else 0
// A negative h that overflows saturates at 0xffff and is clamped to 0xfc00 (-inf); a positive
// one stays below 0x7bff + 0x3c00 < 2^16 and is clamped to 0x7c00. So prod equals
// f16_mul_pow2_expadd (f16_expadd.h) except that a flushed h gives +-0 with a possibly different
// sign, which adds nothing either way.
#pragma once

#include "kernels/neon_tiles.h"

namespace ds::kernels::detail {
namespace {

struct ExpAddF16NeonBase {
  // add and sign as whole vectors (8 half lanes = 4 words each), read with plain vector loads
  // rather than broadcasts, as in neon_expadd.h.
  static constexpr int kWords = 8, kRows = 6, kLanes = 8;

  static void decode(unsigned code, int bits, uint32_t* out) {
    const uint32_t add = uint32_t(core::code_exponent(uint8_t(code), bits)) << 10;
    const uint32_t sign = core::code_negative(uint8_t(code), bits) ? 0x8000u : 0u;
    for (int i = 0; i < 4; ++i) {
      out[i] = add | add << 16;
      out[4 + i] = sign | sign << 16;
    }
  }

  struct Weight {
    uint16x8_t add, sign;
  };
  static Weight weight(const uint32_t* w) {
    return Weight{vreinterpretq_u16_u32(vld1q_u32(w)), vreinterpretq_u16_u32(vld1q_u32(w + 4))};
  }

  struct Prep {
    uint16x8_t h, cap;
  };
  template <bool kMasked>
  static Prep load(const float* x, int rem) {
    float32x4_t lo, hi;
    if constexpr (kMasked) {
      lo = load_f32_partial(x, rem);  // rem < 8; the upper half is read only where it exists
      hi = rem > 4 ? load_f32_partial(x + 4, rem - 4) : vdupq_n_f32(0.0f);
    } else {
      lo = vld1q_f32(x);
      hi = vld1q_f32(x + 4);
    }
    const uint16x8_t h = vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi));
    const uint16x8_t live = vcgtq_u16(vandq_u16(h, vdupq_n_u16(0x7fff)), vdupq_n_u16(0x03ff));
    const uint16x8_t signed_inf = vbslq_u16(vdupq_n_u16(0x8000), h, vdupq_n_u16(0x7c00));
    return Prep{h, vandq_u16(vmaxq_u16(h, signed_inf), live)};
  }

  // The FP16 product patterns of one row and vector.
  static uint16x8_t product(const Prep& x, const Weight& w) {
    return veorq_u16(vminq_u16(vqaddq_u16(x.h, w.add), x.cap), w.sign);
  }
};

}  // namespace
}  // namespace ds::kernels::detail
