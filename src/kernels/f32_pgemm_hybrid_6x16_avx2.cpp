// f32_pgemm_hybrid_6x16_avx2: the blocked GEMM (pgemm.h) for DenseShift codes with both of the
// x86 core's floating-point pipe pairs busy. A power-of-two product can be formed two ways:
//   - as an FMA (decoded +-2^P times x), which runs on the FMA pipes;
//   - as an exponent add, bits(x) + bits(w) - (127 << 23), then a float add, which runs on the
//     integer-vector and float-add pipes (see f32_pgemm_expadd_6x16_avx2 for why it is exact).
// FP32 weights only have the first way. Here rows 0..kFmaRows-1 of each 6x16 tile take the first
// and the others the second, so per k the FMA pipes and the add pipes share the work instead of
// the FMA pipes doing all of it (on AMD Zen 4: FMA on FP0/FP1, float add on FP2/FP3, integer add
// on any). The panel holds decoded floats for both; the exponent rows use x - (127 << 23), formed
// once per k, so bits(x) - (127 << 23) + bits(w) is the exponent-add word sum.
//
// Exactness: the FMA rows are bit-equal to a float dot product unless a product overflows; the
// exponent rows carry f32_pgemm_expadd_6x16_avx2's caveats (finite x; +-0 and subnormal x add a
// term below 2^-110). Not multiply-free.
#include "kernels/pgemm_avx2.h"

namespace ds::kernels::detail {
namespace {

template <int kFmaRows>
struct HybridPanel {
  using Elem = float;
  static constexpr int kWords = 1;

  static const float* panel(const PanelWeights& w, int b, int k0, int kc, float* scratch) {
    decode_panel<Decoded::kDenseShiftF32>(w, b, k0, kc, reinterpret_cast<uint32_t*>(scratch), nullptr);
    return scratch;
  }

  static void tile(int kc, const float* w, const TileIO& io, float* y, size_t ldy, int rows, bool accumulate,
                   const PanelEpilogue* ep, int m, const float* res) {
    Acc6x16 acc;
    load_tile(acc, y, ldy, rows, io, accumulate);
    const __m256i bias = _mm256_set1_epi32(127 << 23);
    for_each_k(kc, io, [&](__m256 x0, __m256 x1, int k) {
      const float* wk = w + k * kPanelRows;
      for (int r = 0; r < kFmaRows; ++r) {
        const __m256 wr = _mm256_broadcast_ss(wk + r);
        acc[r][0] = _mm256_fmadd_ps(wr, x0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(wr, x1, acc[r][1]);
      }
      const __m256i a0 = _mm256_sub_epi32(_mm256_castps_si256(x0), bias);
      const __m256i a1 = _mm256_sub_epi32(_mm256_castps_si256(x1), bias);
      const int32_t* wi = reinterpret_cast<const int32_t*>(wk);
      for (int r = kFmaRows; r < kPanelRows; ++r) {
        const __m256i wr = broadcast_word(reinterpret_cast<const uint32_t*>(wi + r));
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_castsi256_ps(_mm256_add_epi32(a0, wr)));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_castsi256_ps(_mm256_add_epi32(a1, wr)));
      }
    });
    store_tile(acc, y, ldy, rows, io, ep, m, res);
  }
};

}  // namespace

void panel_f32_hybrid_6x16_avx2(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptDenseShift);
  run_panel_gemm<HybridPanel<4>>(a);
}

void gemm_f32_pgemm_hybrid_6x16_avx2(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_hybrid_6x16_avx2);
}

}  // namespace ds::kernels::detail
