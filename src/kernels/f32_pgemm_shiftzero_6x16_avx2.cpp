// f32_pgemm_shiftzero_6x16_avx2: the zero-weight baseline of f32_pgemm_expadd_6x16_avx2, with the
// same blocking, decoder and micro-kernel shape. A shift-with-zero weight is 0 or +-2^(E-1): the
// exponent-add word plus a keep mask, so each product costs one more operation (the AND) and the
// decoded panel is twice as large. Same assumptions as the DenseShift kernel (finite x; +-0 and
// subnormal x give terms below 2^-110); a zero weight adds exactly nothing.
#include "kernels/pgemm_avx2.h"

namespace ds::kernels::detail {
namespace {

struct ShiftZeroPanel {
  using Elem = uint32_t;
  static constexpr int kWords = 2;  // word plane, then keep plane

  static size_t keep_offset(int kc) { return keep_plane_at(size_t(kc) * kPanelRows); }

  static const uint32_t* panel(const PanelWeights& w, int b, int k0, int kc, uint32_t* scratch) {
    decode_panel<Decoded::kZeroWordAndKeep>(w, b, k0, kc, scratch, scratch + keep_offset(kc));
    return scratch;
  }

  // Rows R0 .. R0+R-1 of the tile over all k.
  template <int R0, int R>
  static void sweep(int kc, const uint32_t* w, const uint32_t* keep, const TileIO& io, Acc6x16& acc) {
    __m256 a[R][2];
    for (int r = 0; r < R; ++r) a[r][0] = acc[R0 + r][0], a[r][1] = acc[R0 + r][1];
    for_each_k(kc, io, [&](__m256 xf0, __m256 xf1, int k) {
      const __m256i x0 = _mm256_castps_si256(xf0), x1 = _mm256_castps_si256(xf1);
      const uint32_t* wk = w + k * kPanelRows;
      const uint32_t* kk = keep + k * kPanelRows;
      for (int r = 0; r < R; ++r) {
        const __m256i wr = broadcast_word(wk + R0 + r), kr = broadcast_word(kk + R0 + r);
        a[r][0] = _mm256_add_ps(a[r][0], _mm256_castsi256_ps(_mm256_and_si256(_mm256_add_epi32(x0, wr), kr)));
        a[r][1] = _mm256_add_ps(a[r][1], _mm256_castsi256_ps(_mm256_and_si256(_mm256_add_epi32(x1, wr), kr)));
      }
    });
    for (int r = 0; r < R; ++r) acc[R0 + r][0] = a[r][0], acc[R0 + r][1] = a[r][1];
  }

  static void tile(int kc, const uint32_t* w, const TileIO& io, float* y, size_t ldy, int rows, bool accumulate,
                   const PanelEpilogue* ep, int m, const float* res) {
    Acc6x16 acc;
    load_tile(acc, y, ldy, rows, io, accumulate);
    // Rows 0-3, then rows 4-5: 8 accumulators, two x vectors, a word and a mask fit the 16
    // registers (one 6x16 pass needs 17 and spills an accumulator on every k).
    sweep<0, 4>(kc, w, w + keep_offset(kc), io, acc);
    sweep<4, 2>(kc, w, w + keep_offset(kc), io, acc);
    store_tile(acc, y, ldy, rows, io, ep, m, res);
  }
};

}  // namespace

void panel_f32_shiftzero_6x16_avx2(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptZero);
  run_panel_gemm<ShiftZeroPanel>(a);
}

void gemm_f32_pgemm_shiftzero_6x16_avx2(const GemmArgs& a) {
  run_panel_as_gemm(a, PanelWeightKind::kShiftWithZero, panel_f32_shiftzero_6x16_avx2);
}

}  // namespace ds::kernels::detail
