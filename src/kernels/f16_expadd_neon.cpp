// f16_expadd_neon: FP16 activations on ARMv8.0 NEON: x rounded to FP16, the product an integer
// add on the 16-bit patterns (neon_f16.h), each product widened to FP32 (FCVTL, exact) and summed
// in FP32 with k ascending. So y equals, bit for bit, the model of f16_expadd_f16c:
//   acc = 0; for k: acc += float(f16_mul_pow2_expadd(fp16(x[k][n]), code(m, k)))
// Special values: +-0 adds nothing; |x| below the FP16 normal range (2^-14) is flushed; an FP16
// product that overflows is +-inf; inf/NaN pass through. 6 rows x 8 columns per tile.
#include "kernels/neon_f16.h"

namespace ds::kernels::detail {
namespace {

struct ExpAddF16Neon : ExpAddF16NeonBase {
  static constexpr int kV = 1;  // 12 FP32 accumulators per tile already

  struct Acc {
    float32x4_t lo, hi;  // lanes 0..3 and 4..7
  };
  static Acc zero() { return Acc{vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static void step(Acc& acc, const Prep& x, const Weight& w) {
    const float16x8_t p = vreinterpretq_f16_u16(product(x, w));
    acc.lo = vaddq_f32(acc.lo, vcvt_f32_f16(vget_low_f16(p)));
    acc.hi = vaddq_f32(acc.hi, vcvt_high_f32_f16(p));
  }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) {
    if constexpr (kMasked) {
      store_f32_partial(y, acc.lo, rem);
      if (rem > 4) store_f32_partial(y + 4, acc.hi, rem - 4);
    } else {
      vst1q_f32(y, acc.lo);
      vst1q_f32(y + 4, acc.hi);
    }
  }
};

}  // namespace

void gemm_f16_expadd_neon(const GemmArgs& a) { run_gemm<ExpAddF16Neon>(a); }

}  // namespace ds::kernels::detail
