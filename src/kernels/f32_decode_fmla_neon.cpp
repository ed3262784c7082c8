// f32_decode_fmla_neon: DenseShift codes decoded to floats (+-2^P, once per row), broadcast, and
// accumulated along n with FMLA; the same 6 x 8 tiles as f32_expadd_neon.
//
// As for f32_decode_fma_avx2: w * x is exact unless it overflows (w = +-2^P, P >= 0; subnormal x
// included), and a fused multiply-add of an exact product rounds like acc + fl(w * x). So y
// equals f32_expadd_scalar bit for bit for every x unless some |w * x| >= 2^128, where FMLA keeps
// the product unrounded. Not multiply-free: it measures the multiply path on ARM.
#include "kernels/neon_tiles.h"

namespace ds::kernels::detail {
namespace {

struct DecodeFmlaNeon {
  static constexpr int kWords = 1, kRows = 6, kLanes = 4, kV = 2;

  static void decode(unsigned code, int bits, uint32_t* out) {
    // The FP32 pattern of +-2^P: biased exponent 127 + P, zero mantissa.
    const uint32_t sign = core::code_negative(uint8_t(code), bits) ? 0x80000000u : 0u;
    out[0] = sign | uint32_t(127 + core::code_exponent(uint8_t(code), bits)) << 23;
  }

  using Weight = float32x4_t;
  static Weight weight(const uint32_t* w) {
    return vreinterpretq_f32_u32(vld1q_dup_u32(w));
  }

  using Prep = float32x4_t;
  template <bool kMasked>
  static Prep load(const float* x, int rem) {
    return load_f32x4<kMasked>(x, rem);
  }

  using Acc = float32x4_t;
  static Acc zero() { return vdupq_n_f32(0.0f); }
  static void step(Acc& acc, const Prep& x, const Weight& w) { acc = vfmaq_f32(acc, x, w); }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) { store_f32x4<kMasked>(y, acc, rem); }
};

}  // namespace

void gemm_f32_decode_fmla_neon(const GemmArgs& a) { run_gemm<DecodeFmlaNeon>(a); }

}  // namespace ds::kernels::detail
