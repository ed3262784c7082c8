// The AVX2 FP32 exponent-add product, as a policy for avx2_tiles.h. Shared by f32_expadd_avx2
// (DenseShift codes) and f32_shiftzero_avx2 (codes with a zero weight), which differ only in
// kZero: the extra per-weight mask the zero weight costs. Compile with -mavx2 only.
#pragma once

#include <immintrin.h>

#include "kernels/avx2_tiles.h"

namespace ds::kernels::detail {
namespace {

// Per lane, with a = |bits(x)| and w = +-2^p:
//   t    = min_u32(a + (p << 23), cap)        cap = max_u32(a, inf) if x is normal/inf/NaN, else 0
//   prod = t | (sign(x) ^ sign(w))
// which gives
//   normal x, no overflow:  a + (p << 23) < inf <= cap                  -> the exponent add
//   normal x, overflow:     a + (p << 23) >= inf = cap                  -> +-inf, as IEEE rounds it
//   inf or NaN x:           cap = a <= a + (p << 23) (no 32-bit wrap)   -> x itself, sign xor-ed
//                           (IEEE: inf * w = +-inf; NaN stays a NaN)
//   +-0 or subnormal x:     cap = 0                                     -> +-0: no contribution
// The cap depends on x alone, so Prep computes it once per k for all R rows; a row then costs
// four integer operations and the float add. Flushing subnormal x is the one departure from IEEE
// (exact handling would need a multiply or a normalising shift per lane); real activations,
// ReLU outputs included, are not subnormal in practice.
template <bool kZero>
struct ExpAddF32 {
  static constexpr int kWords = kZero ? 3 : 2;  // add, sign[, keep mask]
  static constexpr int kRows = 6, kLanes = 8, kV = 2;  // see avx2_tiles.h

  static void decode(unsigned code, int bits, uint32_t* out) {
    const int e = core::code_exponent(uint8_t(code), bits);
    const uint32_t sign = core::code_negative(uint8_t(code), bits) ? 0x80000000u : 0u;
    if constexpr (kZero) {
      // Shift with zero: E = 0 is the weight 0 (keep = 0), E >= 1 is +-2^(E-1).
      out[0] = e == 0 ? 0u : uint32_t(e - 1) << 23;
      out[1] = sign;
      out[2] = e == 0 ? 0u : 0xffffffffu;
    } else {
      out[0] = uint32_t(e) << 23;
      out[1] = sign;
    }
  }

  struct Weight {
    __m256i add, sign, keep;
  };
  static Weight weight(const uint32_t* w) {
    Weight r;
    r.add = _mm256_set1_epi32(int(w[0]));
    r.sign = _mm256_set1_epi32(int(w[1]));
    r.keep = kZero ? _mm256_set1_epi32(int(w[2])) : _mm256_setzero_si256();
    return r;
  }

  struct Prep {
    __m256i mag, sign, cap;
  };
  template <bool kMasked>
  static Prep load(const float* x, int rem) {
    const __m256 v = load_f32x8<kMasked>(x, rem);
    const __m256i b = _mm256_castps_si256(v);
    Prep p;
    p.mag = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
    p.sign = _mm256_xor_si256(b, p.mag);
    // a > 0x007fffff: the exponent field is not 0 (a is below 2^31, so the signed compare works).
    const __m256i live = _mm256_cmpgt_epi32(p.mag, _mm256_set1_epi32(0x007fffff));
    p.cap = _mm256_and_si256(_mm256_max_epu32(p.mag, _mm256_set1_epi32(0x7f800000)), live);
    return p;
  }

  using Acc = __m256;
  static Acc zero() { return _mm256_setzero_ps(); }
  static void step(Acc& acc, const Prep& x, const Weight& w) {
    __m256i t = _mm256_min_epu32(_mm256_add_epi32(x.mag, w.add), x.cap);
    if constexpr (kZero) t = _mm256_and_si256(t, w.keep);  // the mask zero-free codes avoid
    const __m256i prod = _mm256_or_si256(t, _mm256_xor_si256(x.sign, w.sign));
    acc = _mm256_add_ps(acc, _mm256_castsi256_ps(prod));
  }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) { store_f32x8<kMasked>(y, acc, rem); }
};

}  // namespace
}  // namespace ds::kernels::detail
