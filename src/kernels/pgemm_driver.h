// The loop nest of the blocked GEMM (pgemm.h), shared by every panel kernel: ISA-neutral, the
// Policy holds the decoder and the micro-kernel. Internal linkage throughout (see internal.h).
//
// A Policy supplies
//   Elem, kWords       what a decoded weight is (float, or 32-bit exponent words) and how many
//                      planes of kc * kPanelRows elements a decoded panel has (1, or 2 with a mask)
//   panel(w, b, k0, kc, scratch) -> const Elem*
//                      block b's columns [k0, k0 + kc) decoded (into scratch, which holds
//                      kc * 6 * kWords + 16 elements), or a pointer into w when nothing needs decoding
//   tile(kc, panel, io, y, ldy, rows, accumulate, ep, m, residual)
//                      the 6x16 micro-kernel on rows m .. m + rows - 1 (y and residual point at
//                      row m): y = [y +] panel * x for the tile io describes, then ep if not null
//   tile2(kc, panel, io[2], ...)   optional: the same on two tiles at once (6x32); the driver then
//                      pairs neighbouring tiles, and runs tile on an odd one out
//
// Loop order, BLIS-style: for each block of K, for each chunk of up to 16 row blocks, decode the
// chunk's panels once (<= 16 x 256 x 6 elements: L2), then for each x panel (256 x 16 floats: L1)
// run the chunk's micro-tiles over it. A weight is decoded once per call and K block, whatever N is.
#pragma once

#include "kernels/internal.h"
#include "kernels/pgemm.h"

namespace ds::kernels::detail {
namespace {

template <class P, class = void>
struct HasTile2 {
  static constexpr bool value = false;
};
template <class P>
struct HasTile2<P, decltype(void(&P::tile2))> {
  static constexpr bool value = true;
};

inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }

// 1 or 2 when a wide-form tile's n pixels run along one input row at that stride (x[j] = x[0] +
// j * s), else 0: the wide kernels then read them through one pointer and constant
// displacements, where a pointer per pixel does not fit the general registers.
inline int pixel_step(const int32_t* x, int n) {
  for (int s = 1; s <= 2; ++s) {
    bool ok = true;
    for (int j = 1; j < n; ++j) ok = ok && x[j] == x[0] + j * s;
    if (ok) return s;
  }
  return 0;
}
inline int pixel_step(const PixelTile& p) { return pixel_step(p.x, kWidePixels); }

// Where one 16-column tile reads x and writes y: half h (8 columns) reads x[h] + 16 k (packed
// panel) or x[h] + koff[k] (indirect), and writes y[h] .. of a row, n[h] columns of it.
struct TileIO {
  const float* x[2];
  const int32_t* koff;  // null: packed
  size_t y[2];
  int n[2];
};

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
      constexpr int kStep = HasTile2<P>::value ? 2 : 1;
      for (int p = a.p0; p < a.p1; p += kStep) {
        const int np = imin(kStep, a.p1 - p);
        TileIO io[2];
        for (int q = 0; q < np; ++q) {
          if (a.tiles) {
            const ColumnTile& t = a.tiles[p + q];
            for (int h = 0; h < 2; ++h) {
              io[q].x[h] = a.x_base + t.x[h];
              io[q].y[h] = size_t(t.y[h]);
              io[q].n[h] = t.n[h];
            }
            io[q].koff = a.koff + k0;
          } else {
            const int n0 = (p + q) * kPanelCols, cols = imin(kPanelCols, a.N - n0);
            io[q].x[0] = a.xp + (size_t(p + q) * size_t(K) + size_t(k0)) * kPanelCols;
            io[q].x[1] = io[q].x[0] + 8;
            io[q].y[0] = size_t(n0), io[q].y[1] = size_t(n0) + 8;
            io[q].n[0] = imin(8, cols), io[q].n[1] = imax(0, cols - 8);
            io[q].koff = nullptr;
          }
        }
        for (int i = 0; i < nb; ++i) {
          const int m = (c0 + i) * kPanelRows, rows = imin(kPanelRows, M - m);
          const size_t at = size_t(m) * a.ldy;
          const float* res = (last && a.ep.residual) ? a.ep.residual + at : nullptr;
          if constexpr (HasTile2<P>::value) {
            if (np == 2) {
              P::tile2(kc, panels[i], io, a.y + at, a.ldy, rows, k0 > 0, ep, m, res);
              continue;
            }
          }
          P::tile(kc, panels[i], io[0], a.y + at, a.ldy, rows, k0 > 0, ep, m, res);
        }
      }
    }
    k0 += kc;
  } while (k0 < K);
}

}  // namespace
}  // namespace ds::kernels::detail
