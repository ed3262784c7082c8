// f32_pgemm_fma_6x16_avx512: f32_pgemm_fma_6x16_avx2 with ZMM accumulators and embedded-broadcast
// FMAs (pgemm_avx512.h). Same exactness: bit-equal to a float dot product unless a product
// overflows. Takes FP32, DenseShift and zero-weight panels.
#include "kernels/pgemm_avx512.h"

namespace ds::kernels::detail {

void panel_f32_fma_6x16_avx512(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptF32 | kAcceptDenseShift | kAcceptZero | kAcceptWide);
  if (a.pixels) return run_wide<kWidePixels, false>(a);  // wide form: every pixel by FMA
  run_panel_gemm<Avx512Panel<kPanelRows, false>>(a);
}

void gemm_f32_pgemm_fma_6x16_avx512(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_fma_6x16_avx512);
}

}  // namespace ds::kernels::detail
