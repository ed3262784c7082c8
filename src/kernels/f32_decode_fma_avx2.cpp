// f32_decode_fma_avx2: DenseShift codes decoded to floats (+-2^P, once per row), broadcast, and
// accumulated along n with FMA; same tiles as f32_expadd_avx2.
//
// Why this equals the reference bit for bit: w = +-2^P with P >= 0, so w * x is exactly
// representable unless it overflows (scaling up never rounds, subnormal x included). FMA rounds
// acc + w * x once; when w * x is exact that is the same rounding as acc + fl(w * x). So y equals
// f32_expadd_scalar bit for bit for every x - zeros, subnormals, inf and NaN included - unless
// some |w * x| >= 2^128. Then FMA keeps the product unrounded: the reference sees inf there,
// FMA may still return a finite y (-FLT_MAX + 2 * FLT_MAX = FLT_MAX rather than inf).
// Not multiply-free: the point of this kernel is to measure the multiply path.
#include <immintrin.h>

#include "kernels/avx2_tiles.h"

namespace ds::kernels::detail {
namespace {

struct DecodeFma {
  static constexpr int kWords = 1, kRows = 6, kLanes = 8, kV = 2;  // see avx2_tiles.h

  static void decode(unsigned code, int bits, uint32_t* out) {
    // The FP32 pattern of +-2^P: biased exponent 127 + P, zero mantissa.
    const uint32_t sign = core::code_negative(uint8_t(code), bits) ? 0x80000000u : 0u;
    out[0] = sign | uint32_t(127 + core::code_exponent(uint8_t(code), bits)) << 23;
  }

  using Weight = __m256;
  static Weight weight(const uint32_t* w) { return _mm256_set1_ps(bits_float(w[0])); }

  using Prep = __m256;
  template <bool kMasked>
  static Prep load(const float* x, int rem) {
    return load_f32x8<kMasked>(x, rem);
  }

  using Acc = __m256;
  static Acc zero() { return _mm256_setzero_ps(); }
  static void step(Acc& acc, const Prep& x, const Weight& w) { acc = _mm256_fmadd_ps(w, x, acc); }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) { store_f32x8<kMasked>(y, acc, rem); }
};

}  // namespace

void gemm_f32_decode_fma_avx2(const GemmArgs& a) { run_gemm<DecodeFma>(a); }

}  // namespace ds::kernels::detail
