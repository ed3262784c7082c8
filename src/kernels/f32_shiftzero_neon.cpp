// f32_shiftzero_neon: the zero-weight baseline ({0, +-2^p} codes) with exactly the loops,
// blocking and special-value handling of f32_expadd_neon, plus the per-weight mask a zero weight
// needs (one AND per row and vector). A zero weight contributes nothing, even for inf/NaN x.
#include "kernels/neon_expadd.h"

namespace ds::kernels::detail {

void gemm_f32_shiftzero_neon(const GemmArgs& a) { run_gemm<ExpAddF32Neon<true>>(a); }

}  // namespace ds::kernels::detail
