// The exact FP32 product x * (+-2^p), p >= 0, formed on the bit pattern (DENSESHIFT.md section 6).
// Shared by the two scalar kernels. Internal linkage, see internal.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/internal.h"

namespace ds::kernels::detail {
namespace {

constexpr uint32_t kF32Sign = 0x80000000u;
constexpr uint32_t kF32ExpMask = 0x7f800000u;
constexpr uint32_t kF32ManMask = 0x007fffffu;
constexpr uint32_t kF32Inf = 0x7f800000u;
constexpr uint32_t kF32QuietBit = 0x00400000u;

// The cases the plain exponent add gets wrong, each made bit-exact to IEEE x * (+-2^p) with
// integer operations only (so the scalar kernels stay free of float multiplies):
//   +-0        -> +-0 with the sign xor-ed (the caller usually skips these: they add nothing)
//   subnormal  -> the mantissa is shifted up by p and renormalised. Scaling up never loses a
//                 bit, and 2^(23+15) * 2^-149 is far below overflow, so the result is exact.
//   inf        -> inf with the sign xor-ed
//   NaN        -> the same NaN, quieted (what x86 float multiply returns)
//   overflow   -> inf with the product's sign: the exact product is >= 2^128, which IEEE
//                 round-to-nearest turns into inf
// Underflow below the normal range cannot happen: DenseShift and shift-with-zero exponents are
// never negative, so a normal x stays normal or overflows.
// `sign` is 0 or kF32Sign (the weight's sign); p is 0..15.
inline uint32_t f32_mul_pow2_slow(uint32_t xb, unsigned p, uint32_t sign) {
  const uint32_t e = xb & kF32ExpMask;
  const uint32_t s = (xb & kF32Sign) ^ sign;
  if (e == 0) {
    const uint64_t v = uint64_t(xb & kF32ManMask) << p;  // the value is v * 2^-149, exactly
    if (v == 0) return s;
    // Subnormal and normal encodings are continuous: for v < 2^24 the pattern is v itself (v's
    // bit 23, if set, lands in the exponent field as exponent 1). Above that, shift v down into
    // [2^23, 2^24) - only zero bits fall off, since v has p trailing zeros and at most p-1 are
    // shifted out - and put the shift count into the exponent field.
    const int top = 63 - __builtin_clzll(v);  // index of v's leading bit
    const unsigned shift = top > 23 ? unsigned(top - 23) : 0u;
    return s | ((uint32_t(shift) << 23) + uint32_t(v >> shift));
  }
  if (e == kF32ExpMask) {
    if (xb & kF32ManMask) return xb | kF32QuietBit;  // NaN
    return s | kF32Inf;                              // inf
  }
  // Normal x whose exponent field would reach 255: the product overflows.
  if ((e >> 23) + p >= 255) return s | kF32Inf;
  return ((xb & ~kF32Sign) + (uint32_t(p) << 23)) | s;
}

// y[n] += x[n] * (+-2^p) for n < N, each product exactly as IEEE would form it. The common
// case - a normal x whose exponent field stays below 255 after the add - is one integer add and
// one xor; zeros are skipped, since adding a +-0 product never changes a sum that started at +0
// (x + -0 == x, and +0 + -0 == +0 under round-to-nearest); the rest go to f32_mul_pow2_slow.
inline void f32_axpy_pow2(float* y, const float* x, size_t N, unsigned p, uint32_t sign) {
  const uint32_t add = uint32_t(p) << 23;
  // e (the exponent field in place) is in the fast window when 1 <= e and e + add < 255 << 23;
  // one unsigned compare checks both ends (e = 0 wraps around to a huge value).
  const uint32_t lo = 0x00800000u, width = (kF32Inf - add) - lo;
  for (size_t n = 0; n < N; ++n) {
    const uint32_t xb = float_bits(x[n]);
    uint32_t prod;
    if ((xb & kF32ExpMask) - lo < width) {
      prod = (xb + add) ^ sign;  // no carry into the sign bit: the magnitude stays below inf
    } else if ((xb & ~kF32Sign) == 0) {
      continue;
    } else {
      prod = f32_mul_pow2_slow(xb, p, sign);
    }
    y[n] += bits_float(prod);
  }
}

// Code i of a packed row, read the simple way (one or two bytes, never past the row's
// nbytes). The scalar kernels use this rather than for_each_code so that the tests comparing
// the SIMD kernels with the scalar reference also check the fast unpacker.
inline unsigned code_at(const uint8_t* row, size_t i, int bits, size_t nbytes) {
  const size_t bit = i * size_t(bits), byte = bit / 8;
  unsigned w = row[byte];
  if (byte + 1 < nbytes) w |= unsigned(row[byte + 1]) << 8;
  return (w >> (bit % 8)) & ((1u << bits) - 1u);
}

}  // namespace
}  // namespace ds::kernels::detail
