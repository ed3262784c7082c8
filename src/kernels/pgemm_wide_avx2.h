// The wide form of the panel kernels on AVX2 (pgemm.h, PanelGemmArgs::pixels): 16 output
// channels (two YMM) x 6 output pixels, 12 accumulators, the sums in registers over a slice of K.
// Per k: the block's 16 decoded weights, loaded once into two registers, and per pixel one float
// of x broadcast into the product. Any pixels make a register tile, so small images and strided
// layers waste no lanes, and there is no phase-split copy: the 6x16 form follows output rows in
// halves of 8 (7 of 8 lanes busy at 7, 14 and 28 pixels a row) and reads a strided layer's input
// through a copy split into s x s phase planes. An FP32 classifier at batch 1 keeps 16 channels a
// vector busy, where the 6x16 form's pixels are the batch (1 lane of 16).
//
// The runtime hands out tiles of kWidePixels (7) pixels, which the AVX-512 and NEON kernels take
// as they are; here a run's pixels are regrouped 6 (or 5) at a time (kWideGroupAvx2, pixel_groups). Registers: 12
// accumulators, the two weight halves and the broadcast x (the exponent-add form one more, for the
// integer sum): 15-16 of 16 YMM. 7 pixels a tile left no register for the weights: both halves
// were read from L1 for every pixel, 16 loads per 14 FMAs. ResNet-18 per layer, 1 thread, minima
// of 4 rounds in either order (scripts/ab_engine.sh -l -m, AMD Zen 3): the multiply-free 7x7 and
// 14x14 layers 4.40-4.48 -> 4.20-4.27 and 4.23-4.30 -> 3.94-4.10 ms, its strided 3x3 layers 3-9%
// faster; `--kernel fastest`'s strided 3x3 layers from 3% slower to 6% faster (1-3% on most); the
// 1x1 stride-2 downsamples (K of 64-256: the per-group epilogue weighs more) up to 5% slower.
// With pixel 0's address in one register (wide_tile_avx2) it also beats the 6x16 form on stride-1
// layers at any width, so the runtime gives it every layer but a strided stem (Conv2d::prepare).
//
// Per output the additions run k ascending, slices summed through a buffer of partial sums in
// order, so the result is bit-equal to the 6x16 form of the same kernel (tests/kernels/
// test_pgemm.cpp). Only for units compiled with -mavx2 -mfma; internal linkage (internal.h).
#pragma once

#include "kernels/pgemm_avx2.h"

namespace ds::kernels::detail {
namespace {

constexpr int kWideGroupAvx2 = 6;    // pixels per register tile (see above)
// Columns of K per slice: a chunk's 4 blocks of weights (8 KB each) about fill L1 while a run's
// groups go over them. ResNet-18, 1 thread, per-layer minima of 4 rounds in either order: 192 ->
// 128 multiply-free 51.5 -> 50.7 ms summed (14x14 layers 4-5% faster, 7x7 ones up to 1% slower),
// fastest 26.6 -> 26.3; 96 about as 128.
constexpr int kWideSliceAvx2 = 128;
constexpr int kWideChunkAvx2 = 4;    // blocks of 16 rows per chunk (see run_wide_avx2)
constexpr int kWideRunAvx2 = 64;     // tiles per run: the chunk's partial sums (about 112 KB) in L2
constexpr int kWideRunGroupsAvx2 = (kWideRunAvx2 * kWidePixels + kWideGroupAvx2 - 1) / kWideGroupAvx2;

// A register tile: `width` pixels computed (kWideGroupAvx2, or one fewer), n of them real; x[j]
// and y[j] as in PixelTile (the missing ones repeat the last real pixel's x and are never stored).
struct PixelGroup {
  int32_t x[kWideGroupAvx2];
  int32_t y[kWideGroupAvx2];
  int n;
  int width;
};

// The pixels of tiles [t0, t1) in order, in as few groups as 6 a group needs; returns the number
// of groups. Where the pixels allow, the groups are 6 and 5 wide with every pixel real, rather
// than 6 wide with a last group mostly padding: a 7x7 image's 49 pixels as 4 x 6 + 5 x 5 (49
// computed) instead of 8 x 6 + 1 (54 computed, 10% more work). Per product a 5-pixel tile costs
// about what a 6-pixel one does (10 float adds per 2 weight loads and 5 broadcasts, against 12 per
// 2 and 6). ResNet-18 multiply-free, 1 thread, per-layer minima of 4 rounds in either order
// (taskset -c 0 scripts/ab_engine.sh -l -m): its 7x7 layers 3.47 -> 3.29 ms (stride 2: 1.80 ->
// 1.71), the network's summed minima 49.3 -> 48.7 ms; the wider images unchanged.
inline int pixel_groups(const PanelGemmArgs& a, int t0, int t1, PixelGroup* groups) {
  constexpr int kG = kWideGroupAvx2;
  int pixels = 0;
  for (int t = t0; t < t1; ++t) pixels += a.pixels[t].n;
  const int count = (pixels + kG - 1) / kG;
  const int narrow = pixels >= count * (kG - 1) ? count * kG - pixels : 0;  // groups one pixel narrower
  int gi = -1, j = 0;
  for (int t = t0; t < t1; ++t) {
    const PixelTile& pt = a.pixels[t];
    for (int i = 0; i < pt.n; ++i) {
      if (gi < 0 || j == groups[gi].width) {
        ++gi, j = 0;
        groups[gi].n = 0, groups[gi].width = gi >= count - narrow ? kG - 1 : kG;
      }
      PixelGroup& g = groups[gi];
      g.x[j] = pt.x[i], g.y[j] = pt.y[i], g.n = ++j;
    }
  }
  if (gi >= 0)
    for (PixelGroup& g = groups[gi]; j < kG; ++j) g.x[j] = g.x[g.n - 1];
  return count;
}

// v[j] (pixel j, lane c = channel c) -> v[c] (channel c, lane j = pixel j).
inline void transpose8x8(__m256 v[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    v[c] = _mm256_permute2f128_ps(s[c], s[c + 4], 0x20);
    v[c + 4] = _mm256_permute2f128_ps(s[c], s[c + 4], 0x31);
  }
}

// Pixel j of a tile: acc[0], acc[1] += w (16 channels, two halves) * x.
struct WideFmaAvx2 {
  static void decode(const PanelWeights& w, int b, int k0, int kc, uint32_t* out) { decode_panel_floats(w, b, k0, kc, out); }
  static void pixel(__m256* acc, const __m256* w, const float* x) {
    const __m256 xv = _mm256_broadcast_ss(x);
    acc[0] = _mm256_fmadd_ps(w[0], xv, acc[0]);
    acc[1] = _mm256_fmadd_ps(w[1], xv, acc[1]);
  }
};

// The same by exponent addition (f32_pgemm_expadd_6x16_avx2): the weights are exponent words,
// bits(x) + word = bits(x * w).
struct WideExpAddAvx2 {
  static void decode(const PanelWeights& w, int b, int k0, int kc, uint32_t* out) {
    decode_panel<Decoded::kDenseShiftWord>(w, b, k0, kc, out, nullptr);
  }
  static void pixel(__m256* acc, const __m256* w, const float* x) {
    const __m256i xi = broadcast_word(reinterpret_cast<const uint32_t*>(x));
    for (int h = 0; h < 2; ++h)
      acc[h] = _mm256_add_ps(acc[h], _mm256_castsi256_ps(_mm256_add_epi32(xi, _mm256_castps_si256(w[h]))));
  }
};

// The epilogue of one group: acc[j][h] holds channels m0 + 8h .. of pixel j, `rows` channels real.
// Runs of pixels consecutive in y go down the rows of y (a register transpose, one store a
// channel and run; a run that starts at pixel j0 > 0, where a group spans images, is first moved
// down j0 lanes); y with ldy < 8 (a linear layer's images, channels adjacent) is written one
// float at a time.
inline void wide_store_avx2(const PanelGemmArgs& a, const __m256 (*acc)[2], const PixelGroup& g, int m0, int rows) {
  int starts[kWideGroupAvx2 + 1], runs = 0;
  for (int j = 0; j < g.n; ++j)
    if (j == 0 || g.y[j] != g.y[j - 1] + 1) starts[runs++] = j;
  starts[runs] = g.n;
  const bool transposed = a.ldy >= 8;
  for (int h = 0; h < 2 && 8 * h < rows; ++h) {
    const int count = imin(8, rows - 8 * h), mc = m0 + 8 * h;
    const __m256i lanes = lane_mask(count);
    const __m256 scale = a.ep.scale ? _mm256_maskload_ps(a.ep.scale + mc, lanes) : _mm256_set1_ps(1.f);
    const __m256 bias = a.ep.bias ? _mm256_maskload_ps(a.ep.bias + mc, lanes) : _mm256_setzero_ps();
    __m256 v[8];
    for (int j = 0; j < kWideGroupAvx2; ++j) v[j] = _mm256_add_ps(_mm256_mul_ps(acc[j][h], scale), bias);  // unfused, as 6x16
    for (int j = kWideGroupAvx2; j < 8; ++j) v[j] = _mm256_setzero_ps();
    if (transposed) {
      transpose8x8(v);
      for (int r = 0; r < runs; ++r) {
        const int j0 = starts[r], n = starts[r + 1] - j0;
        const __m256i down = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(j0));
        const __m256i pixels = lane_mask(n);
        for (int c = 0; c < count; ++c) {
          const size_t at = size_t(mc + c) * a.ldy + size_t(g.y[j0]);
          __m256 o = j0 ? _mm256_permutevar8x32_ps(v[c], down) : v[c];
          if (a.ep.residual) o = _mm256_add_ps(o, _mm256_maskload_ps(a.ep.residual + at, pixels));
          if (a.ep.relu) o = _mm256_max_ps(o, _mm256_setzero_ps());
          store_first_lanes(a.y + at, o, n);
        }
      }
      continue;
    }
    alignas(32) float f[8];
    for (int j = 0; j < g.n; ++j) {
      _mm256_store_ps(f, v[j]);
      for (int c = 0; c < count; ++c) {
        const size_t at = size_t(mc + c) * a.ldy + size_t(g.y[j]);
        float r = f[c];
        if (a.ep.residual) r += a.ep.residual[at];
        if (a.ep.relu) r = r > 0.f ? r : 0.f;  // as _mm256_max_ps(r, 0): NaN and -0 give 0
        a.y[at] = r;
      }
    }
  }
}

// One group over columns [k0, k1) of K; the block's weights for column k at wp + (k - kw) * 16.
// Sums start from `part` unless k0 = 0 and go back to it unless k1 = K, where the epilogue
// stores y. kStep > 0: pixel j reads x at pixel 0's address + j * kStep (one pointer; see
// pixel_step), else a pointer per pixel. kG: the group's width (PixelGroup::width); a 5-wide
// group's store gets a zero sixth pixel, which wide_store_avx2 never writes (j >= g.n).
template <class Op, int kStep, int kG>
inline void wide_tile_avx2(const PanelGemmArgs& a, const float* wp, int kw, int m0, int rows, const PixelGroup& g,
                           int k0, int k1, float* part) {
  const float* xb[kG];
  __m256 acc[kG][2];
#pragma GCC unroll 6
  for (int j = 0; j < kG; ++j) {
    xb[j] = a.x_base + g.x[j];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) acc[j][h] = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(part + (2 * j + h) * 8);
  }
  // Pixel 0's address in one register: left as x_base + g.x[0], GCC kept the two apart and spent
  // a LEA on each pixel's address (44 instructions a k for 24 vector operations, through a
  // 6-wide dispatch); one register makes each broadcast a single base + 4 * koff + disp load.
  const float* x0 = xb[0];
  asm("" : "+r"(x0));
#pragma GCC unroll 2
  for (int k = k0; k < k1; ++k) {
    const float* wk = wp + size_t(k - kw) * kWideRows;
    const __m256 w[2] = {_mm256_loadu_ps(wk), _mm256_loadu_ps(wk + 8)};
    const int32_t o = a.koff[k];
#pragma GCC unroll 6
    for (int j = 0; j < kG; ++j) Op::pixel(acc[j], w, kStep > 0 ? (x0 + o) + j * kStep : xb[j] + o);
  }
  if (k1 < a.w->K) {
#pragma GCC unroll 6
    for (int j = 0; j < kG; ++j)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) _mm256_storeu_ps(part + (2 * j + h) * 8, acc[j][h]);
    return;
  }
  // A copy for the store: were acc's own address to escape, GCC would keep acc in memory and
  // store all 12 accumulators on every k.
  __m256 out[kWideGroupAvx2][2];
#pragma GCC unroll 6
  for (int j = 0; j < kWideGroupAvx2; ++j)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) out[j][h] = j < kG ? acc[j][h] : _mm256_setzero_ps();
  wide_store_avx2(a, out, g, m0, rows);
}

// wide_tile_avx2 for a group whose pixels are `step` floats apart in x (1, 2), or not evenly (0).
template <class Op, int kG>
inline void wide_tile_step(int step, const PanelGemmArgs& a, const float* wp, int kw, int m0, int rows,
                           const PixelGroup& g, int k0, int k1, float* part) {
  if (step == 1) wide_tile_avx2<Op, 1, kG>(a, wp, kw, m0, rows, g, k0, k1, part);
  else if (step == 2) wide_tile_avx2<Op, 2, kG>(a, wp, kw, m0, rows, g, k0, k1, part);
  else wide_tile_avx2<Op, 0, kG>(a, wp, kw, m0, rows, g, k0, k1, part);
}

// The loop nest: per chunk of up to kWideChunkAvx2 blocks (64 channels), per run of tiles (its
// pixels regrouped 6 or 5 at a time, pixel_groups), per slice of K, the chunk's slices decoded once (FP32 weights
// read in place), then each group of the run against every block of the chunk: a group's x (a
// slice's taps of 6 pixels) is read from memory once for the chunk, not once a block. Block by
// block instead, ResNet-18's stem read its 635 KB input once for each of its 4 blocks and ran 20%
// slower than the 6x16 form.
template <class Op>
inline void run_wide_avx2(const PanelGemmArgs& a) {
  const PanelWeights& w = *a.w;
  const int K = w.K, M = w.M;
  const size_t slice = size_t(kWideSliceAvx2) * kWideRows + 16, per_group = size_t(kWideGroupAvx2) * kWideRows;
  uint32_t* const scratch = scratch_words(kWideChunkAvx2 * slice + size_t(kWideChunkAvx2) * kWideRunGroupsAvx2 * per_group);
  float* const partial = reinterpret_cast<float*>(scratch + kWideChunkAvx2 * slice);
  PixelGroup groups[kWideRunGroupsAvx2];
  for (int c0 = a.mb0; c0 < a.mb1; c0 += kWideChunkAvx2) {
    const int nb = imin(kWideChunkAvx2, a.mb1 - c0);
    for (int r0 = a.p0; r0 < a.p1; r0 += kWideRunAvx2) {
      const int ng = pixel_groups(a, r0, imin(a.p1, r0 + kWideRunAvx2), groups);
      for (int k0 = 0; k0 < K; k0 += kWideSliceAvx2) {
        const int k1 = imin(K, k0 + kWideSliceAvx2);
        const float* wp[kWideChunkAvx2];
        int kw = 0;  // wp[i] holds column kw on
        for (int i = 0; i < nb; ++i) {
          wp[i] = reinterpret_cast<const float*>(w.block(c0 + i));
          if (w.kind == PanelWeightKind::kF32) continue;
          uint32_t* const s = scratch + size_t(i) * slice;
          Op::decode(w, c0 + i, k0, k1 - k0, s);
          wp[i] = reinterpret_cast<const float*>(s), kw = k0;
        }
        for (int gi = 0; gi < ng; ++gi) {
          const PixelGroup& g = groups[gi];
          const int step = pixel_step(g.x, g.width);
          for (int i = 0; i < nb; ++i) {
            const int m0 = (c0 + i) * kWideRows, rows = imin(kWideRows, M - m0);
            float* const part = partial + (size_t(i) * kWideRunGroupsAvx2 + size_t(gi)) * per_group;
            if (g.width == kWideGroupAvx2) wide_tile_step<Op, kWideGroupAvx2>(step, a, wp[i], kw, m0, rows, g, k0, k1, part);
            else wide_tile_step<Op, kWideGroupAvx2 - 1>(step, a, wp[i], kw, m0, rows, g, k0, k1, part);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ds::kernels::detail
