// f32_pgemm_expadd_6x16_avx2: the blocked GEMM (pgemm.h) for DenseShift codes, multiply-free:
// each product is ONE integer add on the float's bits, then the float add into the accumulator.
//
// With the decoded word c = s << 31 | P << 23 (w = (-1)^s 2^P) and a finite normal x, the 32-bit
// sum bits(x) + c (mod 2^32) is exactly bits(x * w): P << 23 adds P to the exponent field, and
// adding s << 31 flips the sign bit (the carry out of bit 31 is dropped) - as long as the exponent
// does not reach 255, i.e. |x * w| < 2^128. Two operations per product, as an FMA kernel has one,
// but the add units are separate from the FMA ones on current x86 cores.
//
// What it assumes, and where it departs from IEEE (documented in the registry):
//   - x = +-0 gives +-2^(P-127) instead of 0, and a subnormal x a value of that size (< 2^(P-126),
//     at most 2^-111 for 5-bit codes). Such a term is far below half an ulp of any partial sum
//     above 2^-87, so it changes y only when y itself is that tiny;
//   - x of inf/NaN, or |x * w| >= 2^128, give garbage instead of inf/NaN (network activations are
//     finite and far below 2^100).
// f32_expadd_avx2 is the exact multiply-free kernel (5 integer operations per product).
#include "kernels/pgemm_wide_avx2.h"

namespace ds::kernels::detail {
namespace {

struct ExpAddPanel {
  using Elem = uint32_t;
  static constexpr int kWords = 1;

  static const uint32_t* panel(const PanelWeights& w, int b, int k0, int kc, uint32_t* scratch) {
    decode_panel<Decoded::kDenseShiftWord>(w, b, k0, kc, scratch, nullptr);
    return scratch;
  }

  static void tile(int kc, const uint32_t* w, const TileIO& io, float* y, size_t ldy, int rows, bool accumulate,
                   const PanelEpilogue* ep, int m, const float* res) {
    Acc6x16 acc;
    load_tile(acc, y, ldy, rows, io, accumulate);
    for_each_k(kc, io, [&](__m256 xf0, __m256 xf1, int k) {
      const __m256i x0 = _mm256_castps_si256(xf0), x1 = _mm256_castps_si256(xf1);
      const uint32_t* wk = w + k * kPanelRows;
      for (int r = 0; r < kPanelRows; ++r) {
        const __m256i wr = broadcast_word(wk + r);
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_castsi256_ps(_mm256_add_epi32(x0, wr)));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_castsi256_ps(_mm256_add_epi32(x1, wr)));
      }
    });
    store_tile(acc, y, ldy, rows, io, ep, m, res);
  }
};

}  // namespace

void panel_f32_expadd_6x16_avx2(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptDenseShift | kAcceptWide);
  if (a.pixels) return run_wide_avx2<WideExpAddAvx2>(a);  // wide form (pgemm_wide_avx2.h)
  run_panel_gemm<ExpAddPanel>(a);
}

void gemm_f32_pgemm_expadd_6x16_avx2(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_expadd_6x16_avx2);
}

}  // namespace ds::kernels::detail
