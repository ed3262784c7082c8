// The AVX-512 panel micro-kernels: the same 6x16 tile as the AVX2 ones (pgemm_avx2.h, whose
// decoders, loads and stores they reuse), one ZMM accumulator per row. Per k a ZMM FMA with an
// embedded broadcast (vfmadd231ps zmm, zmm, m32{1to16}) does a row's 16 products in one
// instruction, where AVX2 needs a broadcast and two FMAs: a third of the instructions, so the
// core's front end no longer limits the kernel. Only for units compiled with -mavx512f (which
// implies AVX2); internal linkage throughout (internal.h).
//
// Rows 0 .. kFma-1 form their products with FMA; rows kFma .. 5 by exponent addition (one integer
// add on the bits of x, see f32_pgemm_expadd_6x16_avx2.cpp, then a float add): FMA pipes and add
// pipes work at once. With kZero the exponent rows are the zero-weight baseline (a keep mask per
// weight, the panel as two planes).
#pragma once

#include <immintrin.h>

#include "kernels/pgemm_avx2.h"

// GCC 12's _mm512_insertf64x4 passes _mm512_undefined_pd() through its masked builtin and then
// warns that it "may be used uninitialized" wherever it is inlined: a false positive.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC warning; clang has no such group and would warn about the name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace ds::kernels::detail {
namespace {

// Two 8-float halves as one ZMM (zero-extended first: no undefined upper lanes).
inline __m512 join(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_zextpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

// The 16 floats of x at k: a packed panel, or the two indirect halves joined. kAdjacent: the
// halves are known to be 8 floats apart (16 outputs along one row), so one load does, without the
// join's shuffle, which takes the port of the second FMA pipe on Intel cores.
template <bool kAdjacent = false>
inline __m512 load_x16(const TileIO& io, int k) {
  if (!io.koff) return _mm512_loadu_ps(io.x[0] + size_t(k) * kPanelCols);
  const int32_t o = io.koff[k];
  if constexpr (kAdjacent) return _mm512_loadu_ps(io.x[0] + o);
  return join(_mm256_loadu_ps(io.x[0] + o), _mm256_loadu_ps(io.x[1] + o));
}
inline bool halves_adjacent(const TileIO& io) { return !io.koff || io.x[1] == io.x[0] + 8; }

// What the exponent rows add to bits(x): with FMA rows in the tile (the hybrid) the panel holds
// float bits s << 31 | (P + 127) << 23 and x is biased by -(127 << 23) once per k; without them
// (kFma = 0) it holds the words s << 31 | P << 23 themselves, and nothing is subtracted.
template <int kFma, bool kZero>
constexpr bool kWordPanel = kFma == 0 && !kZero;
template <int kFma, bool kZero>
constexpr int kExpBias = (kZero || kWordPanel<kFma, kZero>) ? 0 : 127 << 23;

template <int kFma, bool kZero>
struct Avx512Panel {
  using Elem = uint32_t;  // float bits (FMA rows and DenseShift exponent rows) or words + keep (kZero)
  static constexpr int kWords = kZero ? 2 : 1;

  static size_t keep_offset(int kc) { return keep_plane_at(size_t(kc) * kPanelRows); }

  static const uint32_t* panel(const PanelWeights& w, int b, int k0, int kc, uint32_t* scratch) {
    if (w.kind == PanelWeightKind::kF32) return reinterpret_cast<const uint32_t*>(w.block(b)) + size_t(k0) * kPanelRows;
    if constexpr (kZero) {
      decode_panel<Decoded::kZeroWordAndKeep>(w, b, k0, kc, scratch, scratch + keep_offset(kc));
    } else if (kWordPanel<kFma, kZero> && w.kind == PanelWeightKind::kDenseShift) {
      decode_panel<Decoded::kDenseShiftWord>(w, b, k0, kc, scratch, nullptr);
    } else {
      decode_panel_floats(w, b, k0, kc, scratch);
    }
    return scratch;
  }

  // One 6x16 tile, or two side by side (tile2: the same 6 rows of weights against two 16-column
  // tiles of x, 6x32). Two tiles give 12 independent accumulators: a core with two 512-bit FMA
  // pipes and a 4-cycle FMA latency needs 8 in flight, so 6 cap it at 75% of its peak (Intel
  // Sapphire Rapids); each broadcast weight also serves twice. The order of the additions per
  // output is unchanged (k ascending), so the results are bit-identical to one tile at a time.
  template <int kTiles, bool kAdjacent>
  static void tiles(int kc, const uint32_t* w, const TileIO* io, float* y, size_t ldy, int rows, bool accumulate,
                    const PanelEpilogue* ep, int m, const float* res) {
    __m512 acc[kTiles][kPanelRows];
    for (int t = 0; t < kTiles; ++t) {
      Acc6x16 acc2;
      load_tile(acc2, y, ldy, rows, io[t], accumulate);
      for (int r = 0; r < kPanelRows; ++r) acc[t][r] = join(acc2[r][0], acc2[r][1]);
    }
    // Exponent rows: bits(x) - (127 << 23) + bits(+-2^P) = bits(x) + (s << 31 | P << 23); the
    // zero-weight rows use the word (s << 31 | (E-1) << 23) and the mask instead.
    const __m512i bias = _mm512_set1_epi32(kExpBias<kFma, kZero>);
    const uint32_t* keep = w + keep_offset(kc);
    for (int k = 0; k < kc; ++k) {
      __m512 x[kTiles];
      for (int t = 0; t < kTiles; ++t) x[t] = load_x16<kAdjacent>(io[t], k);
      const uint32_t* wk = w + size_t(k) * kPanelRows;
      const float* wf = reinterpret_cast<const float*>(wk);
      for (int r = 0; r < kFma; ++r) {
        const __m512 wr = _mm512_set1_ps(wf[r]);
        for (int t = 0; t < kTiles; ++t) acc[t][r] = _mm512_fmadd_ps(wr, x[t], acc[t][r]);
      }
      if constexpr (kFma < kPanelRows) {
        __m512i xa[kTiles];
        for (int t = 0; t < kTiles; ++t)
          xa[t] = kExpBias<kFma, kZero> ? _mm512_sub_epi32(_mm512_castps_si512(x[t]), bias) : _mm512_castps_si512(x[t]);
        for (int r = kFma; r < kPanelRows; ++r) {
          const __m512i wr = _mm512_set1_epi32(int(wk[r]));
          for (int t = 0; t < kTiles; ++t) {
            __m512i p = _mm512_add_epi32(xa[t], wr);
            if constexpr (kZero) p = _mm512_and_si512(p, _mm512_set1_epi32(int(keep[size_t(k) * kPanelRows + r])));
            acc[t][r] = _mm512_add_ps(acc[t][r], _mm512_castsi512_ps(p));
          }
        }
      }
    }
    for (int t = 0; t < kTiles; ++t) {
      Acc6x16 acc2;
      for (int r = 0; r < kPanelRows; ++r) {
        acc2[r][0] = _mm512_castps512_ps256(acc[t][r]);
        acc2[r][1] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t][r]), 1));
      }
      store_tile(acc2, y, ldy, rows, io[t], ep, m, res);
    }
  }
  static void tile(int kc, const uint32_t* w, const TileIO& io, float* y, size_t ldy, int rows, bool accumulate,
                   const PanelEpilogue* ep, int m, const float* res) {
    if (halves_adjacent(io)) tiles<1, true>(kc, w, &io, y, ldy, rows, accumulate, ep, m, res);
    else tiles<1, false>(kc, w, &io, y, ldy, rows, accumulate, ep, m, res);
  }
  static void tile2(int kc, const uint32_t* w, const TileIO* io, float* y, size_t ldy, int rows, bool accumulate,
                    const PanelEpilogue* ep, int m, const float* res) {
    if (halves_adjacent(io[0]) && halves_adjacent(io[1])) tiles<2, true>(kc, w, io, y, ldy, rows, accumulate, ep, m, res);
    else tiles<2, false>(kc, w, io, y, ldy, rows, accumulate, ep, m, res);
  }
};

// The epilogue of one accumulator of the wide form: output pixel at offset y (a PixelTile's y[j])
// for the rows of `mask` from m0 on, one row per lane. Scale and bias are lane vectors; the
// residual is gathered and the result scattered down the rows (stride ldy), since a ZMM here holds
// 16 channels of one pixel and y keeps each channel's pixels together. For tiles whose pixels are
// not consecutive in y (one that spans two images of a batch); see wide_store_rows.
inline void wide_store(const PanelGemmArgs& a, __m512 acc, __m512 scale, __m512 bias, __m512i rows, __mmask16 mask,
                       int m0, int32_t y) {
  const size_t at = size_t(m0) * a.ldy + size_t(y);
  __m512 v = _mm512_add_ps(_mm512_mul_ps(acc, scale), bias);  // unfused, as the 6x16 form's store_rows
  if (a.ep.residual) v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, rows, a.ep.residual + at, 4));
  if (a.ep.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
  _mm512_mask_i32scatter_ps(a.y + at, mask, rows, v, 4);
}

// v[j] (j < 8) holds 16 channels of pixel j; pixels 0 .. n-1 are consecutive in y. Written as rows
// of y: channel r < rows at y + r * ldy, n floats, after adding the residual (laid out like y;
// null: none) and ReLU. Transposed in registers, each row written with one masked store, where
// scattering a pixel's 16 channels would hit 16 lines ldy floats apart: at ldy = 1024 (a 32x32
// image) those share one L1 set and evict each other (measured: 16-channel 32x32 layers twice as
// slow scattered). Needs ldy >= 8.
inline void store_channel_rows(const __m512* v, int n, int rows, float* y, const float* res, size_t ldy, bool relu) {
  // Lane L (channels 4L .. 4L + 3) of u[c] holds channel 4L + c of pixels 0-3 (c < 4) or 4-7 (c >= 4).
  __m512 t[8], u[8];
  for (int j = 0; j < 8; j += 2) {
    t[j] = _mm512_unpacklo_ps(v[j], v[j + 1]);
    t[j + 1] = _mm512_unpackhi_ps(v[j], v[j + 1]);
  }
  for (int h = 0; h < 2; ++h) {
    const __m512d p0 = _mm512_castps_pd(t[4 * h]), p1 = _mm512_castps_pd(t[4 * h + 1]),
                  p2 = _mm512_castps_pd(t[4 * h + 2]), p3 = _mm512_castps_pd(t[4 * h + 3]);
    u[4 * h + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(p0, p2));
    u[4 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(p0, p2));
    u[4 * h + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(p1, p3));
    u[4 * h + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(p1, p3));
  }
  // Lanes L, L + 1 of pixels 0-3 and 4-7 side by side: channel 4L + c in the low 8 floats and
  // 4L + 4 + c in the high 8, pixels 0-7 each.
  const __m512i lo = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
  const __m512i hi = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
  const __mmask16 first = __mmask16((1u << n) - 1u), second = __mmask16(first << 8);
  for (int c = 0; c < 4; ++c)
    for (int half = 0; half < 2; ++half) {
      __m512 w = _mm512_permutex2var_ps(u[c], half ? hi : lo, u[4 + c]);
      const int r0 = 8 * half + c, r1 = r0 + 4;  // the rows of the low and high 8 floats
      const __mmask16 m = __mmask16((r0 < rows ? first : 0) | (r1 < rows ? second : 0));
      // The high 8 floats go to row r1 through an address 8 floats before it (r1 >= 4 and
      // ldy >= 8: inside y); the masked-off lanes are neither read nor written.
      if (res) {
        __m512 rv = _mm512_maskz_loadu_ps(__mmask16(m & first), res + size_t(r0) * ldy);
        rv = _mm512_mask_loadu_ps(rv, __mmask16(m & second), res + size_t(r1) * ldy - 8);
        w = _mm512_add_ps(w, rv);
      }
      if (relu) w = _mm512_max_ps(w, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(y + size_t(r0) * ldy, __mmask16(m & first), w);
      _mm512_mask_storeu_ps(y + size_t(r1) * ldy - 8, __mmask16(m & second), w);
    }
}

// The epilogue of one tile of the wide form whose n pixels are consecutive in y (from y0 on):
// acc[j] holds pixel j's 16 channels (rows m0 ..; `rows` of them real).
inline void wide_store_rows(const PanelGemmArgs& a, const __m512* acc, int n, __m512 scale, __m512 bias, int rows,
                            int m0, int32_t y0) {
  __m512 v[8];
  for (int j = 0; j < kWidePixels; ++j) v[j] = _mm512_add_ps(_mm512_mul_ps(acc[j], scale), bias);  // j >= n: dropped
  for (int j = kWidePixels; j < 8; ++j) v[j] = _mm512_setzero_ps();
  const size_t at = size_t(m0) * a.ldy + size_t(y0);
  store_channel_rows(v, n, rows, a.y + at, a.ep.residual ? a.ep.residual + at : nullptr, a.ldy, a.ep.relu);
}

constexpr int kWidePrefetch = 8;  // columns of K ahead (see wide_tiles)

// Whether columns [k0, k1) of K read x far apart, a line or more from one to the next (a 1x1
// downsample: a channel a column, so a stride-2 tile's run is in lines of its own at every
// column), where prefetching x pays: ResNet-18's 1x1 stride-2 layers, 2 threads, 0.150 -> 0.104
// ms at 28x28 and 0.100 -> 0.077 at 14x14. Where they read neighbouring floats (the stem's 7x7
// taps) the same prefetches cost 4-6%.
inline bool far_columns(const PanelGemmArgs& a, int k0, int k1) {
  return k1 - k0 > 1 && a.koff[k0 + 1] - a.koff[k0] > 16;
}

// kTiles pixel tiles of the wide form from tile t on, against kBlocks blocks of decoded weights
// wp[c] (block c: rows m0[c] .. m0[c] + rows[c] - 1). Two blocks share every broadcast of x: 2
// weight loads and 7 broadcasts per 14 FMAs where one block needs 1 and 7 per 7 (measured on an
// Intel Xeon, 16 channels in L1: 1 block x 12 pixels 135-144 GFLOP/s, 2 blocks x 12 pixels
// 162-176, 2 blocks x 14 pixels 174-184). Per output the additions run k ascending whatever
// kTiles and kBlocks are.
//
// Columns [k0, k1) of K: the sums so far come from `partial` (unless k0 = 0) and go back to it
// (unless k1 = K, where the epilogue stores y instead), kBlocks x kTiles x 7 ZMMs per tile pair.
// Column k's weights (and keep masks) are at wp[c] (keep[c]) + (k - kw) * 16.
//
// kStep > 0: each tile's pixel j reads x at its pixel 0's address + j kStep (a run along one
// input row, stride kStep): a pointer per tile and constant displacements, where a pointer per
// pixel does not fit the general registers; 0: a pointer per pixel.
//
// kPrefetch (with kStep > 0): x of column k + kWidePrefetch is prefetched, the first and last float
// of each tile's run, for layers whose consecutive columns read far apart (see far_columns).
template <int kFma, bool kZero, int kTiles, int kBlocks, int kStep = 0, bool kPrefetch = false>
inline void wide_tiles(const PanelGemmArgs& a, const float* const* wp, const uint32_t* const* keep, const int* m0,
                       const int* rows, int t, __m512i bias, int k0, int k1, int kw, float* partial) {
  const int K = a.w->K;
  const float* xb[kTiles][kWidePixels];
  const float* x0[kTiles];
  __m512 acc[kBlocks][kTiles][kWidePixels];
  for (int q = 0; q < kTiles; ++q) x0[q] = a.x_base + a.pixels[t + q].x[0];
  auto at = [&](int q, int j, int32_t o) -> const float* {
    if constexpr (kStep > 0) return x0[q] + o + j * kStep;
    return xb[q][j] + o;
  };
  for (int q = 0; q < kTiles; ++q)
    for (int j = 0; j < kWidePixels; ++j) {
      xb[q][j] = a.x_base + a.pixels[t + q].x[j];
      for (int c = 0; c < kBlocks; ++c)
        acc[c][q][j] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(partial + ((c * kTiles + q) * kWidePixels + j) * 16);
    }
  for (int k = k0; k < k1; ++k) {
    if constexpr (kPrefetch) {
      const int kp = k + kWidePrefetch < k1 ? k + kWidePrefetch : k1 - 1;
      const int32_t op = a.koff[kp];
      for (int q = 0; q < kTiles; ++q) {
        __builtin_prefetch(x0[q] + op);
        __builtin_prefetch(x0[q] + op + (kWidePixels - 1) * kStep);
      }
    }
    __m512 wv[kBlocks];
    for (int c = 0; c < kBlocks; ++c) wv[c] = _mm512_loadu_ps(wp[c] + size_t(k - kw) * kWideRows);
    const int32_t o = a.koff[k];
    for (int q = 0; q < kTiles; ++q)
      for (int j = 0; j < kFma; ++j) {
        const __m512 xv = _mm512_set1_ps(*at(q, j, o));
        for (int c = 0; c < kBlocks; ++c) acc[c][q][j] = _mm512_fmadd_ps(wv[c], xv, acc[c][q][j]);
      }
    if constexpr (kFma < kWidePixels) {
      __m512i wi[kBlocks], kv[kBlocks];
      for (int c = 0; c < kBlocks; ++c) {
        wi[c] = kExpBias<kFma, kZero> ? _mm512_sub_epi32(_mm512_castps_si512(wv[c]), bias) : _mm512_castps_si512(wv[c]);
        kv[c] = kZero ? _mm512_loadu_si512(keep[c] + size_t(k - kw) * kWideRows) : _mm512_setzero_si512();
      }
      for (int q = 0; q < kTiles; ++q)
        for (int j = kFma; j < kWidePixels; ++j) {
          uint32_t xbits;
          __builtin_memcpy(&xbits, at(q, j, o), 4);
          const __m512i xi = _mm512_set1_epi32(int(xbits));
          for (int c = 0; c < kBlocks; ++c) {
            __m512i prod = _mm512_add_epi32(wi[c], xi);
            if constexpr (kZero) prod = _mm512_and_si512(prod, kv[c]);
            acc[c][q][j] = _mm512_add_ps(acc[c][q][j], _mm512_castsi512_ps(prod));
          }
        }
    }
  }
  if (k1 < K) {
    for (int c = 0; c < kBlocks; ++c)
      for (int q = 0; q < kTiles; ++q)
        for (int j = 0; j < kWidePixels; ++j) _mm512_storeu_ps(partial + ((c * kTiles + q) * kWidePixels + j) * 16, acc[c][q][j]);
    return;
  }
  const __m512i lanes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(int32_t(a.ldy)));
  for (int c = 0; c < kBlocks; ++c) {
    const __mmask16 mask = __mmask16((1u << rows[c]) - 1u);
    const __m512 scale = a.ep.scale ? _mm512_maskz_loadu_ps(mask, a.ep.scale + m0[c]) : _mm512_set1_ps(1.f);
    const __m512 bv = a.ep.bias ? _mm512_maskz_loadu_ps(mask, a.ep.bias + m0[c]) : _mm512_setzero_ps();
    for (int q = 0; q < kTiles; ++q) {
      const PixelTile& pt = a.pixels[t + q];
      bool consecutive = a.ldy >= 8;
      for (int j = 1; j < pt.n; ++j) consecutive = consecutive && pt.y[j] == pt.y[0] + j;
      if (consecutive) {
        wide_store_rows(a, acc[c][q], pt.n, scale, bv, rows[c], m0[c], pt.y[0]);
        continue;
      }
      for (int j = 0; j < pt.n; ++j) wide_store(a, acc[c][q][j], scale, bv, lanes, mask, m0[c], pt.y[j]);
    }
  }
}

// Columns of K per slice of the wide form (run_wide). ResNet-18, 2 threads, fastest, 5 interleaved
// rounds: 96 -> 16.0 ms, 192 -> 15.6, 384 -> 16.3, no slices 16.2 (ResNet-20, 1 thread: 0.741,
// 0.718, 0.732, 0.738).
constexpr int kWideDepth = 192;
// Whether two pixel tiles go together (2 blocks x 2 tiles x 7 pixels: 28 accumulators): for the
// FMA form (2 weight registers besides) and the plain exponent-add one (the weights' words, x's
// bits and a sum: 4 more, all 32 registers). The others (the hybrid, the zero-weight baseline)
// would spill, and run one tile (14 accumulators) at a time.
template <int kFma, bool kZero>
constexpr bool kPairTiles = kFma == kWidePixels || (kFma == 0 && !kZero);
constexpr int kWideRun = 512;  // tile pairs per run (768 KB of partial sums): ResNet-18's 56x56 layers in one
// 1 or 2 when both tiles' pixels run along one input row each at that stride (wide_tiles'
// kStep), else 0.
inline int run_step(const PixelTile& p, const PixelTile& q) {
  const int s = pixel_step(p);
  return s && pixel_step(q) == s ? s : 0;
}

// The wide form (pgemm.h, PanelGemmArgs::pixels): 16 output channels in one ZMM x 7 output pixels,
// the sums in registers over a slice of K at a time (kWideDepth). Per k: one ZMM of decoded
// weights (16 channels), and per pixel one float of x broadcast into an FMA (embedded broadcast)
// or, for the exponent-add pixels (j >= kFma), an integer add of the broadcast bits of x to the
// weights' exponent words and a float add. Any 7 pixels make a tile, so small images waste no lanes (the 6x16 form
// follows output rows in halves of 8 and idles 1 lane of 8 at 7 or 14 pixels per row). Blocks
// go in pairs, an odd last one alone, and tiles too where registers allow (kPairTiles: 32
// channels x 14 pixels, 28 accumulators).
template <int kFma, bool kZero>
inline void run_wide(const PanelGemmArgs& a) {
  const PanelWeights& w = *a.w;
  const int K = w.K, M = w.M;
  const bool f32 = w.kind == PanelWeightKind::kF32;
  // Per block: one slice of decoded weights (and keep masks), in L1.
  const size_t keep_at = keep_plane_at(size_t(kWideDepth) * kWideRows), per_block = keep_at * (kZero ? 2 : 1) + 32;
  // The decoded weights of two blocks, then the partial sums of a run of tile pairs.
  const size_t pairs = size_t(kWideRun), per_pair = 2 * 2 * kWidePixels * 16;
  uint32_t* const scratch = scratch_words(2 * per_block + pairs * per_pair + 16);
  float* const partial = reinterpret_cast<float*>(scratch + 2 * per_block);
  const __m512i bias = _mm512_set1_epi32(kExpBias<kFma, kZero>);
  for (int b0 = a.mb0; b0 < a.mb1; b0 += 2) {
    const int nb = a.mb1 - b0 < 2 ? 1 : 2;
    const float* wp[2];
    const uint32_t* keep[2];
    int m0[2], rows[2];
    for (int c = 0; c < nb; ++c) {
      m0[c] = (b0 + c) * kWideRows, rows[c] = M - m0[c] < kWideRows ? M - m0[c] : kWideRows;
      keep[c] = scratch + size_t(c) * per_block + keep_at;
    }
    // K in slices of kWideDepth, each over a run of tile pairs: a slice's weights (2 x kWideDepth
    // x 64 bytes) and the x they meet stay in L1 from one tile pair to the next, where the whole K
    // of a 512-channel layer (590 KB of weights a pair) came from L2 for every tile pair. Runs of
    // kWideRun pairs keep their partial sums (1.5 KB a pair) in L2 at any batch. Codes are decoded
    // a slice at a time, into L1, and the next slice's prefetched: decoding a block's whole K at
    // once wrote it to L2 in a burst that waited on the codes from memory, with no FMA to overlap
    // (5.7% of ResNet-18 on the FMA kernel).
    for (int r0 = a.p0; r0 < a.p1; r0 += 2 * kWideRun) {
      const int r1 = a.p1 - r0 < 2 * kWideRun ? a.p1 : r0 + 2 * kWideRun;
      for (int k0 = 0; k0 < K; k0 += kWideDepth) {
        const int k1 = K - k0 < kWideDepth ? K : k0 + kWideDepth;
        const bool far = far_columns(a, k0, k1);
        int kw = 0;  // wp[c] holds column kw on
        for (int c = 0; c < nb; ++c) {
          const int b = b0 + c;
          uint32_t* s = scratch + size_t(c) * per_block;
          if (f32) {
            wp[c] = reinterpret_cast<const float*>(w.block(b));
            continue;
          }
          kw = k0;
          if constexpr (kZero) {
            decode_panel<Decoded::kZeroWordAndKeep>(w, b, k0, k1 - k0, s, s + keep_at);
          } else {
            if (kWordPanel<kFma, kZero> && w.kind == PanelWeightKind::kDenseShift)
              decode_panel<Decoded::kDenseShiftWord>(w, b, k0, k1 - k0, s, nullptr);
            else
              decode_panel_floats(w, b, k0, k1 - k0, s);
          }
          wp[c] = reinterpret_cast<const float*>(s);
          const size_t from = size_t(k1) * kWideRows * size_t(w.bits) / 8, bytes = size_t(kWideDepth) * kWideRows * size_t(w.bits) / 8;
          for (size_t o = 0; o < bytes && from + o < w.block_bytes; o += 64) __builtin_prefetch(w.block(b) + from + o);
        }
        for (int t = r0; t < r1; t += 2) {  // two pixel tiles at once (see tiles above)
          if constexpr (!kPairTiles<kFma, kZero>) {  // one at a time: see kPairTiles
            float* const part = partial + size_t(t - r0) / 2 * per_pair;
            for (int q = t; q < t + 2 && q < r1; ++q) {
              float* const pq = part + size_t(q - t) * 2 * kWidePixels * 16;
              if (nb == 2) wide_tiles<kFma, kZero, 1, 2>(a, wp, keep, m0, rows, q, bias, k0, k1, kw, pq);
              else wide_tiles<kFma, kZero, 1, 1>(a, wp, keep, m0, rows, q, bias, k0, k1, kw, pq);
            }
            continue;
          }
          const bool two = t + 1 < r1;
          float* const part = partial + size_t(t - r0) / 2 * per_pair;
          const int step = two ? run_step(a.pixels[t], a.pixels[t + 1]) : 0;
          if (nb == 2 && two && step == 1) wide_tiles<kFma, kZero, 2, 2, 1>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
          else if (nb == 2 && two && step == 2 && far) wide_tiles<kFma, kZero, 2, 2, 2, true>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
          else if (nb == 2 && two && step == 2) wide_tiles<kFma, kZero, 2, 2, 2>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
          else if (nb == 2 && two) wide_tiles<kFma, kZero, 2, 2>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
          else if (nb == 2) wide_tiles<kFma, kZero, 1, 2>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
          else if (two) wide_tiles<kFma, kZero, 2, 1>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
          else wide_tiles<kFma, kZero, 1, 1>(a, wp, keep, m0, rows, t, bias, k0, k1, kw, part);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ds::kernels::detail

#pragma GCC diagnostic pop
