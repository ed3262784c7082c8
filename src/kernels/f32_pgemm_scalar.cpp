// f32_pgemm_scalar: the blocked GEMM (pgemm.h) in portable C++, for any weight kind: codes decoded
// to floats one by one, a 6x16 tile of float accumulators the compiler may vectorise. The engine's
// FP32 layers run on it where no SIMD panel kernel is supported (ARM today). Compiled with
// -ffp-contract=off: every product and sum is rounded on its own, so y is bit-equal to a float
// dot product with k ascending (and, for codes, to the FMA kernels: products of +-2^P are exact).
#include "kernels/pgemm_driver.h"

namespace ds::kernels::detail {
namespace {

struct ScalarPanel {
  using Elem = float;
  static constexpr int kWords = 1;

  static const float* panel(const PanelWeights& w, int b, int k0, int kc, float* scratch) {
    const size_t first = size_t(k0) * kPanelRows;
    if (w.kind == PanelWeightKind::kF32) return reinterpret_cast<const float*>(w.block(b)) + first;
    const bool zero = w.kind == PanelWeightKind::kShiftWithZero;
    for (size_t i = 0; i < size_t(kc) * kPanelRows; ++i) {
      const uint8_t c = core::packed_code_at(w.block(b), first + i, w.bits);
      scratch[i] = zero ? core::decode_zero_code(c, w.bits) : core::decode_code(c, w.bits);
    }
    return scratch;
  }

  static void tile(int kc, const float* w, const TileIO& io, float* y, size_t ldy, int rows, bool accumulate,
                   const PanelEpilogue* ep, int m, const float* res) {
    float acc[kPanelRows][kPanelCols] = {};
    if (accumulate)  // continue the sums of the earlier K blocks: k stays ascending
      for (int r = 0; r < rows; ++r)
        for (int h = 0; h < 2; ++h)
          for (int j = 0; j < io.n[h]; ++j) acc[r][8 * h + j] = y[size_t(r) * ldy + io.y[h] + size_t(j)];
    for (int k = 0; k < kc; ++k, w += kPanelRows) {
      float x[kPanelCols];
      for (int h = 0; h < 2; ++h) {
        const float* src = io.koff ? io.x[h] + io.koff[k] : io.x[h] + size_t(k) * kPanelCols;
        for (int j = 0; j < 8; ++j) x[8 * h + j] = src[j];
      }
      for (int r = 0; r < kPanelRows; ++r)
        for (int j = 0; j < kPanelCols; ++j) acc[r][j] += w[r] * x[j];
    }
    for (int r = 0; r < rows; ++r) {
      const float s = ep && ep->scale ? ep->scale[m + r] : 1.f, b = ep && ep->bias ? ep->bias[m + r] : 0.f;
      for (int h = 0; h < 2; ++h) {
        float* yr = y + size_t(r) * ldy + io.y[h];
        for (int j = 0; j < io.n[h]; ++j) {
          float v = acc[r][8 * h + j];
          if (ep) {
            v = v * s + b;
            if (res) v += res[size_t(r) * ldy + io.y[h] + size_t(j)];
            if (ep->relu) v = v > 0.f ? v : 0.f;
          }
          yr[j] = v;
        }
      }
    }
  }
};

}  // namespace

void panel_f32_scalar(const PanelGemmArgs& a) {
  validate_panel(a, kAcceptF32 | kAcceptDenseShift | kAcceptZero);
  run_panel_gemm<ScalarPanel>(a);
}

void gemm_f32_pgemm_scalar(const GemmArgs& a) { run_panel_as_gemm(a, PanelWeightKind::kDenseShift, panel_f32_scalar); }

}  // namespace ds::kernels::detail
