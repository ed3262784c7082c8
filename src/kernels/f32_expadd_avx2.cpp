// f32_expadd_avx2: DenseShift codes, FP32 activations, the product formed by an integer add on
// the activation bits, 8 lanes along n, 6 rows x 16 columns per tile.
//
// Special values (see ExpAddF32 in f32_expadd_avx2.h): +-0 adds nothing, subnormal x is flushed
// (adds nothing), a product that overflows becomes +-inf, inf and NaN pass through with the sign
// rule of IEEE. Sums run in float with k ascending, so y equals f32_expadd_scalar bit for bit
// whenever no activation is subnormal, and equals f32_expadd_scalar on x with subnormals
// replaced by zero always.
#include "kernels/f32_expadd_avx2.h"

namespace ds::kernels::detail {

void gemm_f32_expadd_avx2(const GemmArgs& a) { run_gemm<ExpAddF32<false>>(a); }

}  // namespace ds::kernels::detail
