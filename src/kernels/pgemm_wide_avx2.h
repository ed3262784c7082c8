// The wide form of the panel kernels on AVX2 (pgemm.h, PanelGemmArgs::pixels): 16 output
// channels (two YMM) x 7 output pixels, 14 accumulators, the sums in registers over a slice of K.
// Per k: the block's 16 decoded weights, and per pixel one float of x broadcast into the
// product. Any 7 pixels make a tile, so small images and strided layers waste no lanes, and
// there is no phase-split copy: the 6x16 form follows output rows in halves of 8 (7 of 8 lanes
// busy at 7, 14 and 28 pixels a row) and reads a strided layer's input through a copy split
// into s x s phase planes. An FP32 classifier at batch 1 keeps 16 channels a vector busy, where
// the 6x16 form's pixels are the batch (1 lane of 16).
//
// Registers: 14 accumulators and the broadcast x leave one YMM. The FMA form keeps the low 8
// weights in it and reads the high 8 from L1 as the FMA's memory operand; the exponent-add form
// needs a register for the integer sum, so it reads both halves from L1 (vpaddd's operand).
// Those memory operands are written in inline assembly (fmadd_mem, add_epi32_mem).
//
// Per output the additions run k ascending, slices summed through a buffer of partial sums in
// order, so the result is bit-equal to the 6x16 form of the same kernel (tests/kernels/
// test_pgemm.cpp). Only for units compiled with -mavx2 -mfma; internal linkage (internal.h).
#pragma once

#include "kernels/pgemm_avx2.h"

namespace ds::kernels::detail {
namespace {

constexpr int kWideSliceAvx2 = 192;  // columns of K per slice: its weights (12 KB) stay in L1 across the tiles
constexpr int kWideChunkAvx2 = 4;    // blocks of 16 rows per chunk (see run_wide_avx2)
constexpr int kWideRunAvx2 = 64;     // tiles per run: the chunk's partial sums (112 KB) in L2

// One instruction with the weights (8 floats or words at p) as its memory operand, in inline
// assembly: with intrinsics GCC loads a k's weights once into registers the 14 accumulators leave
// no room for and spills, and the empty-asm barrier that stopped it cost a register copy per
// pixel and half (ResNet-18's exponent-add 7x7 layers: 7 broadcasts, 14 copies, 14 integer and 14
// float adds per k). Not volatile: two of them with the same inputs compute the same value.
inline __m256 fmadd_mem(__m256 acc, __m256 x, const float* p) {  // acc + p[0..7] * x
  __asm__("vfmadd231ps %2, %1, %0" : "+x"(acc) : "x"(x), "m"(*reinterpret_cast<const float(*)[8]>(p)));
  return acc;
}
inline __m256i add_epi32_mem(__m256i a, const float* p) {  // a + bits(p[0..7]), lane by lane
  __m256i r;
  __asm__("vpaddd %2, %1, %0" : "=x"(r) : "x"(a), "m"(*reinterpret_cast<const float(*)[8]>(p)));
  return r;
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

// Pixel j of a tile: acc[0], acc[1] += w(16 channels at wk) * x.
struct WideFmaAvx2 {
  static void decode(const PanelWeights& w, int b, int k0, int kc, uint32_t* out) { decode_panel_floats(w, b, k0, kc, out); }
  static void pixel(__m256* acc, const float* wk, const float* x) {
    const __m256 xv = _mm256_broadcast_ss(x);
    acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(wk), xv, acc[0]);
    acc[1] = fmadd_mem(acc[1], xv, wk + 8);
  }
};

// The same by exponent addition (f32_pgemm_expadd_6x16_avx2): the weights are exponent words,
// bits(x) + word = bits(x * w).
struct WideExpAddAvx2 {
  static void decode(const PanelWeights& w, int b, int k0, int kc, uint32_t* out) {
    decode_panel<Decoded::kDenseShiftWord>(w, b, k0, kc, out, nullptr);
  }
  static void pixel(__m256* acc, const float* wk, const float* x) {
    const __m256i xi = broadcast_word(reinterpret_cast<const uint32_t*>(x));
    for (int h = 0; h < 2; ++h) acc[h] = _mm256_add_ps(acc[h], _mm256_castsi256_ps(add_epi32_mem(xi, wk + 8 * h)));
  }
};

// The epilogue of one tile: acc[j][h] holds channels m0 + 8h .. of pixel j, `rows` channels real.
// Pixels consecutive in y go down the rows of y (a register transpose, one store a channel);
// others (a linear layer's images, ldy = 1) are written one float at a time.
inline void wide_store_avx2(const PanelGemmArgs& a, const __m256 (*acc)[2], const PixelTile& pt, int m0, int rows) {
  bool consecutive = a.ldy >= size_t(kWidePixels);
  for (int j = 1; j < pt.n; ++j) consecutive = consecutive && pt.y[j] == pt.y[0] + j;
  const __m256i pixels = lane_mask(pt.n);
  for (int h = 0; h < 2 && 8 * h < rows; ++h) {
    const int count = imin(8, rows - 8 * h), mc = m0 + 8 * h;
    const __m256i lanes = lane_mask(count);
    const __m256 scale = a.ep.scale ? _mm256_maskload_ps(a.ep.scale + mc, lanes) : _mm256_set1_ps(1.f);
    const __m256 bias = a.ep.bias ? _mm256_maskload_ps(a.ep.bias + mc, lanes) : _mm256_setzero_ps();
    __m256 v[8];
    for (int j = 0; j < kWidePixels; ++j) v[j] = _mm256_add_ps(_mm256_mul_ps(acc[j][h], scale), bias);  // unfused, as 6x16
    v[7] = _mm256_setzero_ps();
    if (consecutive) {
      transpose8x8(v);
      for (int c = 0; c < count; ++c) {
        const size_t at = size_t(mc + c) * a.ldy + size_t(pt.y[0]);
        __m256 r = v[c];
        if (a.ep.residual) r = _mm256_add_ps(r, _mm256_maskload_ps(a.ep.residual + at, pixels));
        if (a.ep.relu) r = _mm256_max_ps(r, _mm256_setzero_ps());
        store_first_lanes(a.y + at, r, pt.n);
      }
      continue;
    }
    alignas(32) float f[8];
    for (int j = 0; j < pt.n; ++j) {
      _mm256_store_ps(f, v[j]);
      for (int c = 0; c < count; ++c) {
        const size_t at = size_t(mc + c) * a.ldy + size_t(pt.y[j]);
        float r = f[c];
        if (a.ep.residual) r += a.ep.residual[at];
        if (a.ep.relu) r = r > 0.f ? r : 0.f;  // as _mm256_max_ps(r, 0): NaN and -0 give 0
        a.y[at] = r;
      }
    }
  }
}

// One tile over columns [k0, k1) of K; the block's weights for column k at wp + (k - kw) * 16.
// Sums start from `part` unless k0 = 0 and go back to it unless k1 = K, where the epilogue
// stores y. kStep > 0: pixel j reads x at pixel 0's address + j * kStep (one pointer; see
// pixel_step), else a pointer per pixel.
template <class Op, int kStep>
inline void wide_tile_avx2(const PanelGemmArgs& a, const float* wp, int kw, int m0, int rows, int t, int k0, int k1,
                           float* part) {
  const PixelTile& pt = a.pixels[t];
  const float* xb[kWidePixels];
  __m256 acc[kWidePixels][2];
#pragma GCC unroll 7
  for (int j = 0; j < kWidePixels; ++j) {
    xb[j] = a.x_base + pt.x[j];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) acc[j][h] = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(part + (2 * j + h) * 8);
  }
  for (int k = k0; k < k1; ++k) {
    const float* wk = wp + size_t(k - kw) * kWideRows;
    const int32_t o = a.koff[k];
#pragma GCC unroll 7
    for (int j = 0; j < kWidePixels; ++j) Op::pixel(acc[j], wk, kStep > 0 ? xb[0] + o + j * kStep : xb[j] + o);
  }
  if (k1 < a.w->K) {
#pragma GCC unroll 7
    for (int j = 0; j < kWidePixels; ++j)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) _mm256_storeu_ps(part + (2 * j + h) * 8, acc[j][h]);
    return;
  }
  // A copy for the store: were acc's own address to escape, GCC would keep acc in memory and
  // store all 14 accumulators on every k.
  __m256 out[kWidePixels][2];
#pragma GCC unroll 7
  for (int j = 0; j < kWidePixels; ++j)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) out[j][h] = acc[j][h];
  wide_store_avx2(a, out, pt, m0, rows);
}

// The loop nest: per chunk of up to kWideChunkAvx2 blocks (64 channels), per run of tiles, per
// slice of K, the chunk's slices decoded once (FP32 weights read in place), then each tile of
// the run against every block of the chunk: a tile's x (a slice's taps of 7 pixels) is read from
// memory once for the chunk, not once a block. Block by block instead, ResNet-18's stem read its
// 635 KB input once for each of its 4 blocks and ran 20% slower than the 6x16 form.
template <class Op>
inline void run_wide_avx2(const PanelGemmArgs& a) {
  const PanelWeights& w = *a.w;
  const int K = w.K, M = w.M;
  const size_t slice = size_t(kWideSliceAvx2) * kWideRows + 16, per_tile = size_t(kWidePixels) * kWideRows;
  uint32_t* const scratch = scratch_words(kWideChunkAvx2 * slice + size_t(kWideChunkAvx2) * kWideRunAvx2 * per_tile);
  float* const partial = reinterpret_cast<float*>(scratch + kWideChunkAvx2 * slice);
  for (int c0 = a.mb0; c0 < a.mb1; c0 += kWideChunkAvx2) {
    const int nb = imin(kWideChunkAvx2, a.mb1 - c0);
    for (int r0 = a.p0; r0 < a.p1; r0 += kWideRunAvx2) {
      const int r1 = imin(a.p1, r0 + kWideRunAvx2);
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
        for (int t = r0; t < r1; ++t) {
          const int step = pixel_step(a.pixels[t]);
          for (int i = 0; i < nb; ++i) {
            const int m0 = (c0 + i) * kWideRows, rows = imin(kWideRows, M - m0);
            float* const part = partial + (size_t(i) * kWideRunAvx2 + size_t(t - r0)) * per_tile;
            if (step == 1) wide_tile_avx2<Op, 1>(a, wp[i], kw, m0, rows, t, k0, k1, part);
            else if (step == 2) wide_tile_avx2<Op, 2>(a, wp[i], kw, m0, rows, t, k0, k1, part);
            else wide_tile_avx2<Op, 0>(a, wp[i], kw, m0, rows, t, k0, k1, part);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ds::kernels::detail
