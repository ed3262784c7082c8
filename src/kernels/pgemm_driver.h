// The loop nest of the blocked GEMM (pgemm.h), shared by every panel kernel: ISA-neutral, the
// Policy holds the decoder and the micro-kernel. Internal linkage throughout (see internal.h).
//
// A Policy supplies
//   Elem, kWords       what a decoded weight is (float, or 32-bit exponent words) and how many
//                      planes of kc * kPanelRows elements a decoded panel has (1, or 2 with a mask)
//   panel(w, b, k0, kc, scratch) -> const Elem*
//                      block b's columns [k0, k0 + kc) decoded (into scratch, which holds
//                      kc * 6 * kWords + 16 elements), or a pointer into w when nothing needs decoding
//   tile(kc, panel, xp, y, ldy, rows, cols, accumulate, ep, m, residual)
//                      the 6x16 micro-kernel: y(rows x cols) = [y +] panel * xp, then ep if not null
//
// Loop order, BLIS-style: for each block of K, for each chunk of up to 16 row blocks, decode the
// chunk's panels once (<= 16 x 256 x 6 elements: L2), then for each x panel (256 x 16 floats: L1)
// run the chunk's micro-tiles over it. A weight is decoded once per call and K block, whatever N is.
#pragma once

#include "kernels/internal.h"
#include "kernels/pgemm.h"

namespace ds::kernels::detail {
namespace {

inline int imin(int a, int b) { return a < b ? a : b; }

template <class P>
inline void run_panel_gemm(const PanelGemmArgs& a) {
  using Elem = typename P::Elem;
  static_assert(sizeof(Elem) == 4, "panels hold 32-bit elements");
  constexpr int kChunk = 16;
  const PanelWeights& w = *a.w;
  const int K = w.K, M = w.M;
  const size_t stride = size_t(kPanelDepth) * kPanelRows * P::kWords + 16;
  Elem* scratch = reinterpret_cast<Elem*>(scratch_words(stride * kChunk));
  const Elem* panels[kChunk];
  int k0 = 0;
  do {  // once even for K = 0: y still gets its epilogue
    const int kc = imin(kPanelDepth, K - k0);
    const bool last = k0 + kc >= K;
    const PanelEpilogue* ep = last ? &a.ep : nullptr;
    for (int c0 = a.mb0; c0 < a.mb1; c0 += kChunk) {
      const int nb = imin(kChunk, a.mb1 - c0);
      for (int i = 0; i < nb; ++i) panels[i] = P::panel(w, c0 + i, k0, kc, scratch + size_t(i) * stride);
      for (int p = a.p0; p < a.p1; ++p) {
        const int n0 = p * kPanelCols, cols = imin(kPanelCols, a.N - n0);
        const float* xs = a.xp + (size_t(p) * size_t(K) + size_t(k0)) * kPanelCols;
        for (int i = 0; i < nb; ++i) {
          const int m = (c0 + i) * kPanelRows, rows = imin(kPanelRows, M - m);
          const size_t at = size_t(m) * a.ldy + size_t(n0);
          const float* res = (last && a.ep.residual) ? a.ep.residual + at : nullptr;
          P::tile(kc, panels[i], xs, a.y + at, a.ldy, rows, cols, k0 > 0, ep, m, res);
        }
      }
    }
    k0 += kc;
  } while (k0 < K);
}

}  // namespace
}  // namespace ds::kernels::detail
