// f32_pgemm_hybrid_6x16_avx512: per 6x16 tile, 4 rows by FMA and 2 by exponent addition, with ZMM
// accumulators (pgemm_avx512.h): the FMA pipes and the integer/float-add pipes share the work, which
// FP32 weights cannot do. FMA rows exact; exponent rows as f32_pgemm_expadd_6x16_avx2 (finite x;
// +-0 and subnormal x add a term below 2^-110). DenseShift codes only.
#include "kernels/pgemm_avx512.h"

namespace ds::kernels::detail {

void panel_f32_hybrid_6x16_avx512(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptDenseShift | kAcceptWide);
  if (a.pixels) return run_wide<kWidePixels - 1, false>(a);  // wide form: 1 pixel by exponent add (measured best with 6 a tile)
  run_panel_gemm<Avx512Panel<4, false>>(a);
}

void gemm_f32_pgemm_hybrid_6x16_avx512(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_hybrid_6x16_avx512);
}

}  // namespace ds::kernels::detail
