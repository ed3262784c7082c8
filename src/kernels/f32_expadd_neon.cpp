// f32_expadd_neon: DenseShift codes, FP32 activations, the product formed by an integer add on
// the activation bits (saturating add + min, sign by xor), 4 lanes along n, 6 x 8 tiles.
//
// Special values (ExpAddF32Neon in neon_expadd.h), the same as f32_expadd_avx2: +-0 adds
// nothing, subnormal x is flushed (adds nothing), a product that overflows becomes +-inf, inf and
// NaN pass through with the IEEE sign rule. Sums run in float with k ascending, so y equals
// f32_expadd_scalar on x with subnormals replaced by zero, bit for bit.
#include "kernels/neon_expadd.h"

namespace ds::kernels::detail {

void gemm_f32_expadd_neon(const GemmArgs& a) { run_gemm<ExpAddF32Neon<false>>(a); }

}  // namespace ds::kernels::detail
