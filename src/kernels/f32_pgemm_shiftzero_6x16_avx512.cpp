// f32_pgemm_shiftzero_6x16_avx512: the zero-weight baseline of f32_pgemm_expadd_6x16_avx512 (same
// tile, loads and decoder; pgemm_avx512.h): exponent add plus a keep mask per weight (one AND per
// product, a panel twice as large). A zero weight adds exactly nothing.
#include "kernels/pgemm_avx512.h"

namespace ds::kernels::detail {

void panel_f32_shiftzero_6x16_avx512(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptZero | kAcceptWide);
  if (a.pixels) return run_wide<0, true>(a);
  run_panel_gemm<Avx512Panel<0, true>>(a);
}

void gemm_f32_pgemm_shiftzero_6x16_avx512(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kShiftWithZero, panel_f32_shiftzero_6x16_avx512);
}

}  // namespace ds::kernels::detail
