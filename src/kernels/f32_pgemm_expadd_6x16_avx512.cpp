// f32_pgemm_expadd_6x16_avx512: the multiply-free exponent-add kernel (f32_pgemm_expadd_6x16_avx2)
// with ZMM accumulators (pgemm_avx512.h): per product one integer add on the bits of x and a float
// add. Same assumptions (finite x with |x*w| < 2^128; +-0 and subnormal x add a term below
// 2^-110). DenseShift codes only.
#include "kernels/pgemm_avx512.h"

namespace ds::kernels::detail {

void panel_f32_expadd_6x16_avx512(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptDenseShift | kAcceptWide);
  if (a.pixels) return run_wide<0, false>(a);
  run_panel_gemm<Avx512Panel<0, false>>(a);
}

void gemm_f32_pgemm_expadd_6x16_avx512(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_expadd_6x16_avx512);
}

}  // namespace ds::kernels::detail
