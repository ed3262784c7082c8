// f16_expadd_fp16arith_neon: f16_expadd_neon with the sums in FP16 too (ARMv8.2 FP16 arithmetic,
// FADD on 8 half lanes), the deployment the DENSESHIFT.md section 6 claim is about. Compiled with
// -march=armv8.2-a+fp16 and only called where HWCAP_ASIMDHP says the CPU has it (registry.cpp).
//
// Not bit-equal to FP32 accumulation: every partial sum is rounded to FP16 (11 significant bits)
// and overflows at 65504. y equals, bit for bit, the FP16-accumulating model
//   acc = +0 (FP16); for k: acc = fp16(acc + f16_mul_pow2_expadd(fp16(x[k][n]), code(m, k)))
//   y = float(acc)
// (FPCR round to nearest even, FP16 subnormal sums kept: Linux leaves FZ16 clear). The products
// follow the special-value rules of f16_expadd_neon. 6 rows x 16 columns per tile: an FP16
// accumulator holds 8 lanes in one register.
#include "kernels/neon_f16.h"

namespace ds::kernels::detail {
namespace {

struct ExpAddF16ArithNeon : ExpAddF16NeonBase {
  static constexpr int kV = 2;

  using Acc = float16x8_t;
  static Acc zero() { return vreinterpretq_f16_u16(vdupq_n_u16(0)); }
  static void step(Acc& acc, const Prep& x, const Weight& w) {
    acc = vaddq_f16(acc, vreinterpretq_f16_u16(product(x, w)));
  }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) {
    const float32x4_t lo = vcvt_f32_f16(vget_low_f16(acc)), hi = vcvt_high_f32_f16(acc);
    if constexpr (kMasked) {
      store_f32_partial(y, lo, rem);
      if (rem > 4) store_f32_partial(y + 4, hi, rem - 4);
    } else {
      vst1q_f32(y, lo);
      vst1q_f32(y + 4, hi);
    }
  }
};

}  // namespace

void gemm_f16_expadd_fp16arith_neon(const GemmArgs& a) { run_gemm<ExpAddF16ArithNeon>(a); }

}  // namespace ds::kernels::detail
