// f32_winograd_2x2_3x3_avx512: Winograd F(2x2, 3x3) (winograd.h) with AVX-512F.
//
// Input transform: 16 tiles of a tile row at a time, one per ZMM lane; a tile's four input
// columns are the even and odd floats of two 32-float runs (VPERMT2PS), so no gather.
// Product: the wide orientation of pgemm_avx512.h's run_wide - 16 output channels in one ZMM x 6
// tiles, per input channel one ZMM of U and 6 FMAs with a broadcast of V - once per transformed
// position xi. The codes of one 16-channel block are decoded (pgemm_avx2.h's decoder) and
// transformed to U per chunk of 64 input channels (U = 64 KiB: L2), so the model stays b-bit in
// memory. Output transform, folded BN, residual and ReLU as the tile's 2x2 outputs are stored.
#include "kernels/pgemm_avx512.h"
#include "kernels/winograd.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace ds::kernels::detail {
namespace {

constexpr int kChunk = 64;  // input channels transformed at a time
constexpr int kXi = kWinogradPositions;
constexpr int kG = kWinogradGroup;
// Floats from one position's U panel to the next: a chunk plus one ZMM, so the 16 stores of one
// channel's transform land in 16 different L1 sets (at exactly 4 KiB apart they would share one
// set of 8 ways and evict each other: measured 40% of the layer at 7x7).
constexpr size_t kUStride = size_t(kChunk) * kWideRows + kWideRows;

inline size_t zmin(size_t a, size_t b) { return a < b ? a : b; }

// U = G g G^T for 16 output channels (one per lane): g[i * 3 + j] the 3x3 filter,
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. Writes u[xi * ld] for xi = 4 i + j.
inline void weight_transform(const float* g, float* u, size_t ld) {
  const __m512 half = _mm512_set1_ps(0.5f);
  __m512 a[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    const __m512 g0 = _mm512_loadu_ps(g + j * 16), g1 = _mm512_loadu_ps(g + (3 + j) * 16),
                 g2 = _mm512_loadu_ps(g + (6 + j) * 16);
    const __m512 s = _mm512_add_ps(g0, g2);
    a[0][j] = g0;
    a[1][j] = _mm512_mul_ps(_mm512_add_ps(s, g1), half);
    a[2][j] = _mm512_mul_ps(_mm512_sub_ps(s, g1), half);
    a[3][j] = g2;
  }
  for (int i = 0; i < 4; ++i) {  // (G g) G^T
    const __m512 s = _mm512_add_ps(a[i][0], a[i][2]);
    _mm512_storeu_ps(u + size_t(4 * i + 0) * ld, a[i][0]);
    _mm512_storeu_ps(u + size_t(4 * i + 1) * ld, _mm512_mul_ps(_mm512_add_ps(s, a[i][1]), half));
    _mm512_storeu_ps(u + size_t(4 * i + 2) * ld, _mm512_mul_ps(_mm512_sub_ps(s, a[i][1]), half));
    _mm512_storeu_ps(u + size_t(4 * i + 3) * ld, a[i][2]);
  }
}

}  // namespace

void winograd_input_f32_2x2_3x3_avx512(const WinogradInputArgs& a) {
  const int th = winograd_tiles(a.H), tw = winograd_tiles(a.W);
  const int Hp = 2 * th + 2, Wp = 2 * tw + 2;
  // The zero-padded plane (pad 1 on top and left, up to 2 on the bottom and right for odd sizes),
  // with 64 floats of slack for the last run's over-read.
  float* p = reinterpret_cast<float*>(scratch_words(size_t(Hp) * Wp + 64));
  for (size_t i = 0, n = size_t(Hp) * Wp + 64; i < n; ++i) p[i] = 0.f;
  for (int yy = 0; yy < a.H; ++yy) __builtin_memcpy(p + size_t(yy + 1) * Wp + 1, a.x + size_t(yy) * a.W, size_t(a.W) * 4);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int ty = 0; ty < th; ++ty) {
    for (int tx0 = 0; tx0 < tw; tx0 += 16) {
      const int n = tw - tx0 < 16 ? tw - tx0 : 16;
      const __mmask16 keep = __mmask16((1u << n) - 1);
      __m512 e[4][4];  // row i of d times B: d0 - d2, d1 + d2, d2 - d1, d1 - d3
      for (int i = 0; i < 4; ++i) {
        const float* r = p + size_t(2 * ty + i) * Wp + 2 * tx0;
        const __m512 lo = _mm512_loadu_ps(r), hi = _mm512_loadu_ps(r + 16);
        const __m512 lo2 = _mm512_loadu_ps(r + 2), hi2 = _mm512_loadu_ps(r + 18);
        const __m512 d0 = _mm512_permutex2var_ps(lo, even, hi), d1 = _mm512_permutex2var_ps(lo, odd, hi);
        const __m512 d2 = _mm512_permutex2var_ps(lo2, even, hi2), d3 = _mm512_permutex2var_ps(lo2, odd, hi2);
        e[i][0] = _mm512_sub_ps(d0, d2);
        e[i][1] = _mm512_add_ps(d1, d2);
        e[i][2] = _mm512_sub_ps(d2, d1);
        e[i][3] = _mm512_sub_ps(d1, d3);
      }
      float* out = a.v + size_t(ty) * tw + tx0;
      for (int j = 0; j < 4; ++j) {  // B^T times the columns
        const __m512 f[4] = {_mm512_sub_ps(e[0][j], e[2][j]), _mm512_add_ps(e[1][j], e[2][j]),
                             _mm512_sub_ps(e[2][j], e[1][j]), _mm512_sub_ps(e[1][j], e[3][j])};
        for (int i = 0; i < 4; ++i) _mm512_mask_storeu_ps(out + size_t(4 * i + j) * a.xi_stride, keep, f[i]);
      }
    }
  }
}

void winograd_product_f32_2x2_3x3_avx512(const WinogradProductArgs& a) {
  validate_winograd(a);
  const PanelWeights& w = *a.w;
  const int C = w.K / 9, M = w.M, groups = a.g1 - a.g0;
  const size_t dec_n = size_t(kChunk) * 9 * kWideRows, u_n = size_t(kXi) * kUStride;
  uint32_t* scratch = scratch_words(dec_n + u_n + size_t(groups) * kXi * kG * kWideRows);
  float* dec = reinterpret_cast<float*>(scratch);
  float* U = dec + dec_n;
  float* acc_buf = U + u_n;  // [group][xi][tile][16 channels]: the sums over the chunks so far
  const size_t per_image = size_t(a.tiles_h) * a.tiles_w, plane = size_t(a.OH) * a.OW;
  for (int b = a.mb0; b < a.mb1; ++b) {
    const int m0 = b * kWideRows, rows = M - m0 < kWideRows ? M - m0 : kWideRows;
    for (int c0 = 0; c0 < C; c0 += kChunk) {
      const int cc = C - c0 < kChunk ? C - c0 : kChunk;
      const float* g;
      if (w.kind == PanelWeightKind::kF32) {
        g = reinterpret_cast<const float*>(w.block(b)) + size_t(c0) * 9 * kWideRows;
      } else {
        uint32_t* d = reinterpret_cast<uint32_t*>(dec);
        if (w.kind == PanelWeightKind::kDenseShift)
          decode_panel<Decoded::kDenseShiftF32>(w, b, c0 * 9, cc * 9, d, nullptr);
        else
          decode_panel<Decoded::kZeroF32>(w, b, c0 * 9, cc * 9, d, nullptr);
        g = dec;
      }
      for (int c = 0; c < cc; ++c)
        weight_transform(g + size_t(c) * 9 * kWideRows, U + size_t(c) * kWideRows, kUStride);
      for (int xi = 0; xi < kXi; ++xi) {
        const float* u = U + size_t(xi) * kUStride;
        const float* vx = a.v + size_t(xi) * a.xi_stride + size_t(c0) * a.c_stride;
        for (int gi = 0; gi < groups; ++gi) {
          // Tiles past the end repeat the last one (computed, never stored): no read past V.
          const size_t t0 = size_t(a.g0 + gi) * kG;
          size_t off[kG];
          for (int j = 0; j < kG; ++j) off[j] = zmin(t0 + size_t(j), size_t(a.T) - 1);
          float* ab = acc_buf + (size_t(gi) * kXi + size_t(xi)) * kG * kWideRows;
          __m512 acc[kG];
          for (int j = 0; j < kG; ++j) acc[j] = c0 ? _mm512_loadu_ps(ab + j * kWideRows) : _mm512_setzero_ps();
          const float* vc = vx;
          for (int c = 0; c < cc; ++c, vc += a.c_stride) {
            const __m512 uv = _mm512_loadu_ps(u + size_t(c) * kWideRows);
            for (int j = 0; j < kG; ++j) acc[j] = _mm512_fmadd_ps(uv, _mm512_set1_ps(vc[off[j]]), acc[j]);
          }
          for (int j = 0; j < kG; ++j) _mm512_storeu_ps(ab + j * kWideRows, acc[j]);
        }
      }
    }
    // Output transform Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], then the epilogue.
    const __mmask16 live = __mmask16((1u << rows) - 1);
    const __m512 scale = a.ep.scale ? _mm512_maskz_loadu_ps(live, a.ep.scale + m0) : _mm512_set1_ps(1.f);
    const __m512 bias = a.ep.bias ? _mm512_maskz_loadu_ps(live, a.ep.bias + m0) : _mm512_setzero_ps();
    for (int gi = 0; gi < groups; ++gi)
      for (int j = 0; j < kG; ++j) {
        const size_t t = size_t(a.g0 + gi) * kG + size_t(j);
        if (t >= size_t(a.T)) break;
        const float* ab = acc_buf + size_t(gi) * kXi * kG * kWideRows + size_t(j) * kWideRows;
        __m512 m[kXi];
        for (int xi = 0; xi < kXi; ++xi) m[xi] = _mm512_loadu_ps(ab + size_t(xi) * kG * kWideRows);
        __m512 s0[4], s1[4];  // A^T M: rows
        for (int q = 0; q < 4; ++q) {
          s0[q] = _mm512_add_ps(_mm512_add_ps(m[q], m[4 + q]), m[8 + q]);
          s1[q] = _mm512_sub_ps(_mm512_sub_ps(m[4 + q], m[8 + q]), m[12 + q]);
        }
        float out[4][kWideRows];  // (A^T M) A, pixels (0,0) (0,1) (1,0) (1,1)
        const __m512 y4[4] = {_mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]),
                              _mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]),
                              _mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]),
                              _mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3])};
        for (int q = 0; q < 4; ++q) _mm512_storeu_ps(out[q], _mm512_add_ps(_mm512_mul_ps(y4[q], scale), bias));
        const size_t img = t / per_image, in_img = t % per_image;
        const int oy = int(in_img / size_t(a.tiles_w)) * 2, ox = int(in_img % size_t(a.tiles_w)) * 2;
        for (int q = 0; q < 4; ++q) {
          const int py = oy + q / 2, px = ox + q % 2;
          if (py >= a.OH || px >= a.OW) continue;
          const size_t at0 = img * a.image_stride + size_t(m0) * plane + size_t(py) * a.OW + size_t(px);
          for (int r = 0; r < rows; ++r) {
            const size_t at = at0 + size_t(r) * plane;
            float o = out[q][r];
            if (a.ep.residual) o += a.ep.residual[at];
            if (a.ep.relu) o = o > 0.f ? o : 0.f;
            a.y[at] = o;
          }
        }
      }
  }
}

}  // namespace ds::kernels::detail

#pragma GCC diagnostic pop
