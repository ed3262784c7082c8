// f32_matvec_expadd_avx512: the multiply-free matrix-vector kernel (f32_matvec_expadd_avx2) at
// batch 1 with 2- and 3-bit codes, on ZMM registers: one 64-byte load is the same group of two
// rows (the layout puts a block's rows side by side, matvec.h), so every instruction works on 16
// weights. Per slot: a shift, a 16-entry table lookup (VPERMD: its index is the low 4 bits, the
// 8 codes' words sit in the table twice) giving the exponent-add words s << 31 | P << 23, an
// integer add to the bits of x (the same 8 x for both rows) and a float add. Other widths and
// batches go to f32_matvec_expadd_avx2. Same numerics as that kernel: finite x; +-0 and subnormal
// x (the zero padding past K included) add a term below 2^-110.
#include <immintrin.h>

#include "kernels/matvec_internal.h"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() through their masked builtins and then warn
// "may be used uninitialized" where they are inlined: a false positive (as in pgemm_avx512.h).
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC warning; clang has no such group and would warn about the name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace ds::kernels::detail {
namespace {

// Lanes 0+4, 1+5, ... then pairwise, as the other matvec kernels.
inline float hsum8(__m256 t) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  return _mm_cvtss_f32(q);
}

template <int B>
void run_batch1(const MatvecArgs& a) {
  constexpr int kW = 32 / B;  // slots per word
  const MvGeom geo = mv_geom(a.M, a.K, B);
  alignas(64) int32_t words[16];
  for (int c = 0; c < 16; ++c) {
    const int code = c & ((1 << B) - 1), s = code >> (B - 1), P = code & ((1 << (B - 1)) - 1);
    words[c] = int32_t(uint32_t(s) << 31 | uint32_t(P) << 23);
  }
  const __m512i table = _mm512_load_si512(words);
  const int q_begin = a.m0 / kMvRows, q_end = (a.m1 + kMvRows - 1) / kMvRows;
  for (int p = 0; p < geo.panels; ++p) {
    const int groups = geo.groups_in(p), k0 = p * kMvPanelK, kp = groups * geo.G;
    const int kr = a.K - k0 < kp ? a.K - k0 : kp;
    float* xs = mv_x_scratch(mv_x_stride(kp));
    for (int k = 0; k < kr; ++k) xs[k] = a.x[k0 + k];
    for (int k = kr; k < kp; ++k) xs[k] = 0.0f;
    const bool first = p == 0, last = p == geo.panels - 1;
    for (int q = q_begin; q < q_end; ++q) {
      // The block's 4 rows as two ZMMs (rows 0-1, rows 2-3), two accumulators each: four
      // independent chains of float adds hide the add latency.
      const uint8_t* g = a.packed + geo.offset(p, q);
      const float* x = xs;
      __m512 acc[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()}, {_mm512_setzero_ps(), _mm512_setzero_ps()}};
      for (int gi = 0; gi < groups; ++gi, g += kMvRows * kMvGroupBytes, x += geo.G) {
        const __m512i v[2] = {_mm512_loadu_si512(g), _mm512_loadu_si512(g + 2 * kMvGroupBytes)};
#pragma GCC unroll 16
        for (int j = 0; j < kW; ++j) {
          const __m256d x8 = _mm256_castps_pd(_mm256_loadu_ps(x + 8 * j));
          const __m512i xx = _mm512_castpd_si512(_mm512_broadcast_f64x4(x8));
          for (int h = 0; h < 2; ++h) {
            const __m512i w = _mm512_permutexvar_epi32(_mm512_srli_epi32(v[h], unsigned(B * j)), table);
            acc[h][j % 2] = _mm512_add_ps(acc[h][j % 2], _mm512_castsi512_ps(_mm512_add_epi32(xx, w)));
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        const __m512 t = _mm512_add_ps(acc[h][0], acc[h][1]);
        const float sums[2] = {hsum8(_mm512_castps512_ps256(t)),
                               hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)))};
        for (int r = 0; r < 2; ++r) {
          const int m = q * kMvRows + 2 * h + r;
          if (m >= a.m1) break;
          float* y = a.y + size_t(m);
          const float v = first ? sums[r] : *y + sums[r];
          *y = last ? mv_epilogue(a, m, v) : v;
        }
      }
    }
  }
}

}  // namespace

void matvec_f32_expadd_avx512(const MatvecArgs& a) {
  if (a.N != 1 || a.bits > 3) return matvec_f32_expadd_avx2(a);
  validate_matvec(a);
  if (mv_trivial(a)) return;
  if (a.bits == 2)
    run_batch1<2>(a);
  else
    run_batch1<3>(a);
}

}  // namespace ds::kernels::detail

#pragma GCC diagnostic pop
