// f32_winograd_3x3_avx512: Winograd F(2x2, 3x3) and F(4x4, 3x3) (winograd.h) with AVX-512F.
//
// Input transform: 16 tiles of a tile row at a time, one per ZMM lane; a tile's input columns
// are every m-th float of a run (VPERMT2PS picks them), so no gather.
// Product: the wide orientation of pgemm_avx512.h's run_wide - 16 output channels in one ZMM x 6
// tiles, per input channel one ZMM of U and 6 FMAs with a broadcast of V - once per transformed
// position xi. The codes of one 16-channel block are decoded (pgemm_avx2.h's decoder) and
// transformed to U per chunk of 64 input channels (U = a^2 x 64 x 16 floats: L2), so the model
// stays b-bit in memory. Output transform, folded BN, residual and ReLU as each tile is stored.
#include "kernels/pgemm_avx512.h"
#include "kernels/winograd.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace ds::kernels::detail {
namespace {

constexpr int kChunk = 64;  // input channels transformed at a time
constexpr int kG = kWinogradGroup;

inline size_t zmin(size_t a, size_t b) { return a < b ? a : b; }
inline __m512 splat(float f) { return _mm512_set1_ps(f); }

// The 1-D transforms of F(m, 3), on 16 lanes at once. In place of matrices with constant
// entries, the formulas with their common terms shared (x * 0 cannot be folded away in IEEE
// arithmetic, so a generic matrix product would do every zero).
template <int kM>
struct Transforms;

template <>
struct Transforms<2> {
  // B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
  static void input(const __m512* d, __m512* r) {
    r[0] = _mm512_sub_ps(d[0], d[2]);
    r[1] = _mm512_add_ps(d[1], d[2]);
    r[2] = _mm512_sub_ps(d[2], d[1]);
    r[3] = _mm512_sub_ps(d[1], d[3]);
  }
  // G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  static void weight(const __m512* g, __m512* w) {
    const __m512 s = _mm512_add_ps(g[0], g[2]);
    w[0] = g[0];
    w[1] = _mm512_mul_ps(_mm512_add_ps(s, g[1]), splat(0.5f));
    w[2] = _mm512_mul_ps(_mm512_sub_ps(s, g[1]), splat(0.5f));
    w[3] = g[2];
  }
  // A^T = [1 1 1 0; 0 1 -1 -1]
  static void output(const __m512* m, __m512* o) {
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]);
  }
};

template <>
struct Transforms<4> {
  // B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
  static void input(const __m512* d, __m512* r) {
    const __m512 a = _mm512_fnmadd_ps(splat(4.f), d[2], d[4]);  // d4 - 4 d2
    const __m512 b = _mm512_fnmadd_ps(splat(4.f), d[1], d[3]);  // d3 - 4 d1
    const __m512 c = _mm512_sub_ps(d[4], d[2]);
    const __m512 e = _mm512_mul_ps(_mm512_sub_ps(d[3], d[1]), splat(2.f));
    r[0] = _mm512_fmadd_ps(splat(4.f), d[0], _mm512_fnmadd_ps(splat(5.f), d[2], d[4]));
    r[1] = _mm512_add_ps(a, b);
    r[2] = _mm512_sub_ps(a, b);
    r[3] = _mm512_add_ps(c, e);
    r[4] = _mm512_sub_ps(c, e);
    r[5] = _mm512_fmadd_ps(splat(4.f), d[1], _mm512_fnmadd_ps(splat(5.f), d[3], d[5]));
  }
  // G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
  static void weight(const __m512* g, __m512* w) {
    const __m512 s = _mm512_add_ps(g[0], g[2]);
    const __m512 t = _mm512_fmadd_ps(g[0], splat(1.f / 24), _mm512_mul_ps(g[2], splat(1.f / 6)));
    const __m512 u = _mm512_mul_ps(g[1], splat(1.f / 12));
    w[0] = _mm512_mul_ps(g[0], splat(0.25f));
    w[1] = _mm512_mul_ps(_mm512_add_ps(s, g[1]), splat(-1.f / 6));
    w[2] = _mm512_mul_ps(_mm512_sub_ps(s, g[1]), splat(-1.f / 6));
    w[3] = _mm512_add_ps(t, u);
    w[4] = _mm512_sub_ps(t, u);
    w[5] = g[2];
  }
  // A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
  static void output(const __m512* m, __m512* o) {
    const __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_sub_ps(m[1], m[2]);
    const __m512 c = _mm512_add_ps(m[3], m[4]), d = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
    o[1] = _mm512_fmadd_ps(splat(2.f), d, b);
    o[2] = _mm512_fmadd_ps(splat(4.f), c, a);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(splat(8.f), d, b), m[5]);
  }
};

// Applies a 1-D transform F (n inputs -> k outputs) to the rows, then the columns, of an n x n
// block of vectors: out = T x T^T, out[i * k + j].
template <int kN, int kK, class F>
inline void transform_2d(const __m512* x, __m512* out, F f) {
  __m512 rows[kN][kK];
  for (int i = 0; i < kN; ++i) f(x + i * kN, rows[i]);
  for (int j = 0; j < kK; ++j) {
    __m512 col[kN], t[kK];
    for (int i = 0; i < kN; ++i) col[i] = rows[i][j];
    f(col, t);
    for (int i = 0; i < kK; ++i) out[i * kK + j] = t[i];
  }
}

// Lanes l = 0..15 of r[m * l + j]: every m-th float of a run from r (m = 2: 34 floats, m = 4: 66),
// by two-source permutes of its ZMMs.
template <int kM>
inline __m512 strided(const float* r, int j) {
  const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                          _mm512_set1_epi32(kM)),
                                       _mm512_set1_epi32(j % kM));
  const float* p = r + j / kM * kM;  // so that the indices stay below 32 (m = 2) or 64 (m = 4)
  if constexpr (kM == 2) {
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), idx, _mm512_loadu_ps(p + 16));
  } else {
    // Lanes 0-7 from floats 0-31, lanes 8-15 from 32-63: the same indices mod 32 into each pair.
    const __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(p), idx, _mm512_loadu_ps(p + 16));
    const __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(p + 32), idx, _mm512_loadu_ps(p + 48));
    return _mm512_mask_blend_ps(0xFF00, lo, hi);
  }
}

template <int kM>
void input_transform(const WinogradInputArgs& a) {
  constexpr int kA = kM + 2;
  const int th = winograd_tiles(a.H, kM), tw = winograd_tiles(a.W, kM);
  const int Hp = kM * th + 2, Wp = kM * tw + 2;
  // The zero-padded plane (pad 1 on top and left, the rest of the last tiles on the bottom and
  // right), with slack for the last run's over-read (4 + 64 floats).
  const size_t n = size_t(Hp) * Wp + 80;
  float* p = reinterpret_cast<float*>(scratch_words(n));
  for (size_t i = 0; i < n; ++i) p[i] = 0.f;
  for (int yy = 0; yy < a.H; ++yy) __builtin_memcpy(p + size_t(yy + 1) * Wp + 1, a.x + size_t(yy) * a.W, size_t(a.W) * 4);
  for (int ty = 0; ty < th; ++ty) {
    for (int tx0 = 0; tx0 < tw; tx0 += 16) {
      const int lanes = tw - tx0 < 16 ? tw - tx0 : 16;
      const __mmask16 keep = __mmask16((1u << lanes) - 1);
      __m512 d[kA * kA], v[kA * kA];
      for (int i = 0; i < kA; ++i) {
        const float* r = p + size_t(kM * ty + i) * Wp + size_t(kM) * tx0;
        for (int j = 0; j < kA; ++j) d[i * kA + j] = strided<kM>(r, j);
      }
      transform_2d<kA, kA>(d, v, Transforms<kM>::input);
      float* out = a.v + size_t(ty) * tw + tx0;
      for (int xi = 0; xi < kA * kA; ++xi) _mm512_mask_storeu_ps(out + size_t(xi) * a.xi_stride, keep, v[xi]);
    }
  }
}

template <int kM>
void product(const WinogradProductArgs& a) {
  constexpr int kA = kM + 2, kXi = kA * kA;
  // Floats from one position's U panel to the next: a chunk plus one ZMM, so the a^2 stores of one
  // channel's transform land in different L1 sets (at exactly 4 KiB apart they would share one
  // set of 8 ways and evict each other: measured 40% of the layer at 7x7).
  constexpr size_t kUStride = size_t(kChunk) * kWideRows + kWideRows;
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
      for (int c = 0; c < cc; ++c) {  // U = G g G^T for 16 output channels
        __m512 gv[9], u[kXi];
        for (int t = 0; t < 9; ++t) gv[t] = _mm512_loadu_ps(g + (size_t(c) * 9 + size_t(t)) * kWideRows);
        __m512 rows3[3][kA];  // G g^T per filter row, then G applied down the columns
        for (int i = 0; i < 3; ++i) Transforms<kM>::weight(gv + 3 * i, rows3[i]);
        for (int j = 0; j < kA; ++j) {
          const __m512 col[3] = {rows3[0][j], rows3[1][j], rows3[2][j]};
          __m512 t[kA];
          Transforms<kM>::weight(col, t);
          for (int i = 0; i < kA; ++i) u[i * kA + j] = t[i];
        }
        for (int xi = 0; xi < kXi; ++xi) _mm512_storeu_ps(U + size_t(xi) * kUStride + size_t(c) * kWideRows, u[xi]);
      }
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
    // Output transform Y = A^T M A, then the epilogue.
    const __mmask16 live = __mmask16((1u << rows) - 1);
    const __m512 scale = a.ep.scale ? _mm512_maskz_loadu_ps(live, a.ep.scale + m0) : _mm512_set1_ps(1.f);
    const __m512 bias = a.ep.bias ? _mm512_maskz_loadu_ps(live, a.ep.bias + m0) : _mm512_setzero_ps();
    for (int gi = 0; gi < groups; ++gi)
      for (int j = 0; j < kG; ++j) {
        const size_t t = size_t(a.g0 + gi) * kG + size_t(j);
        if (t >= size_t(a.T)) break;
        const float* ab = acc_buf + size_t(gi) * kXi * kG * kWideRows + size_t(j) * kWideRows;
        __m512 m[kXi], y[kM * kM];
        for (int xi = 0; xi < kXi; ++xi) m[xi] = _mm512_loadu_ps(ab + size_t(xi) * kG * kWideRows);
        transform_2d<kA, kM>(m, y, Transforms<kM>::output);
        float out[kM * kM][kWideRows];
        for (int q = 0; q < kM * kM; ++q) _mm512_storeu_ps(out[q], _mm512_add_ps(_mm512_mul_ps(y[q], scale), bias));
        const size_t img = t / per_image, in_img = t % per_image;
        const int oy = int(in_img / size_t(a.tiles_w)) * kM, ox = int(in_img % size_t(a.tiles_w)) * kM;
        for (int q = 0; q < kM * kM; ++q) {
          const int py = oy + q / kM, px = ox + q % kM;
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

}  // namespace

void winograd_input_f32_3x3_avx512(const WinogradInputArgs& a) {
  if (a.m == 4) return input_transform<4>(a);
  input_transform<2>(a);
}

void winograd_product_f32_3x3_avx512(const WinogradProductArgs& a) {
  validate_winograd(a);
  if (a.m == 4) return product<4>(a);
  product<2>(a);
}

}  // namespace ds::kernels::detail

#pragma GCC diagnostic pop
