// f32_pgemm_fma_6x16_avx2: the blocked GEMM (pgemm.h) with weights decoded to floats (+-2^P, or
// FP32 weights used as they are) and a 6x16 FMA micro-kernel: 12 accumulators, two x vectors and
// one broadcast weight, 15 of the 16 YMM registers.
//
// Exactness: as f32_decode_fma_avx2 - every product w * x is exact unless it overflows, FMA rounds
// once, k ascends (K blocks are summed in order through y), so y is bit-equal to a float dot
// product unless some |w * x| >= 2^128. Not multiply-free: this is the FMA path.
#include "kernels/pgemm_wide_avx2.h"

namespace ds::kernels::detail {
namespace {

struct FmaPanel {
  using Elem = float;
  static constexpr int kWords = 1;

  static const float* panel(const PanelWeights& w, int b, int k0, int kc, float* scratch) {
    if (w.kind == PanelWeightKind::kF32) return reinterpret_cast<const float*>(w.block(b)) + size_t(k0) * kPanelRows;
    decode_panel_floats(w, b, k0, kc, reinterpret_cast<uint32_t*>(scratch));
    return scratch;
  }

  static void tile(int kc, const float* w, const TileIO& io, float* y, size_t ldy, int rows, bool accumulate,
                   const PanelEpilogue* ep, int m, const float* res) {
    Acc6x16 acc;
    load_tile(acc, y, ldy, rows, io, accumulate);
    for_each_k(kc, io, [&](__m256 x0, __m256 x1, int k) {
      const float* wk = w + k * kPanelRows;
      for (int r = 0; r < kPanelRows; ++r) {
        const __m256 wr = _mm256_broadcast_ss(wk + r);
        acc[r][0] = _mm256_fmadd_ps(wr, x0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(wr, x1, acc[r][1]);
      }
    });
    store_tile(acc, y, ldy, rows, io, ep, m, res);
  }
};

}  // namespace

void panel_f32_fma_6x16_avx2(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptF32 | kAcceptDenseShift | kAcceptZero | kAcceptWide);
  if (a.pixels) return run_wide_avx2<WideFmaAvx2>(a);  // wide form (pgemm_wide_avx2.h)
  run_panel_gemm<FmaPanel>(a);
}

void gemm_f32_pgemm_fma_6x16_avx2(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_fma_6x16_avx2);
}

}  // namespace ds::kernels::detail
