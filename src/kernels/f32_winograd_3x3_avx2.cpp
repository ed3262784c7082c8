// f32_winograd_3x3_avx2: Winograd F(2x2, 3x3) and F(4x4, 3x3) (winograd.h, algorithm in
// winograd_impl.h) with AVX2 + FMA: a vector of 16 lanes is two YMM, so the product's register
// tile is 16 channels x 6 tiles in 12 YMM accumulators, plus two for U and one broadcast: 15 of
// the 16 registers.
#include "kernels/winograd_impl.h"

namespace ds::kernels::detail {
namespace {

// One YMM of 8 tiles: the row type of the two-pass input transform (winograd_impl.h).
struct Ymm1 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load_first(const float* p, int n) { return _mm256_maskload_ps(p, lane_mask(n)); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static void store_first(float* p, T v, int n) { store_first_lanes(p, v, n); }
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float f) { return _mm256_set1_ps(f); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static void store_half(float* p, T v, int h) {
    _mm_storeu_ps(p, h ? _mm256_extractf128_ps(v, 1) : _mm256_castps256_ps128(v));
  }
  // lo[0..3] in the low half, hi[0..3] in the high one: tiles 0-3 of the low row side by side in
  // the low half, tiles 0-3 of the high row in the high half, so that the in-lane transposes below
  // give the tiles in order.
  static __m256 halves(const float* lo, const float* hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
  }
  // d[j] lane l = lo[kM l + j] (l < 4), hi[kM (l - 4) + j] (l >= 4), j < kM + 2 (reads lo and hi up
  // to + 4 kM + 4).
  template <int kM>
  static void phases(const float* lo, const float* hi, T* d) {
    if constexpr (kM == 2) {  // tile l at r[2l]: quads r[4k..] hold tiles 2k, 2k + 1
      const __m256 a = halves(lo, hi), b = halves(lo + 4, hi + 4), c = halves(lo + 2, hi + 2),
                   e = halves(lo + 6, hi + 6);
      d[0] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
      d[1] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
      d[2] = _mm256_shuffle_ps(c, e, _MM_SHUFFLE(2, 0, 2, 0));  // j = 2, 3: phases 0, 1 of tile l + 1
      d[3] = _mm256_shuffle_ps(c, e, _MM_SHUFFLE(3, 1, 3, 1));
    } else {  // tile l at r[4l]: quad l holds tile l; a 4 x 4 transpose per half
      const __m256 q0 = halves(lo, hi), q1 = halves(lo + 4, hi + 4), q2 = halves(lo + 8, hi + 8),
                   q3 = halves(lo + 12, hi + 12), q4 = halves(lo + 16, hi + 16);
      const __m256 t0 = _mm256_unpacklo_ps(q0, q1), t1 = _mm256_unpacklo_ps(q2, q3);
      const __m256 t2 = _mm256_unpackhi_ps(q0, q1), t3 = _mm256_unpackhi_ps(q2, q3);
      d[0] = _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(1, 0, 1, 0));
      d[1] = _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 2, 3, 2));
      d[2] = _mm256_shuffle_ps(t2, t3, _MM_SHUFFLE(1, 0, 1, 0));
      d[3] = _mm256_shuffle_ps(t2, t3, _MM_SHUFFLE(3, 2, 3, 2));
      // j = 4, 5: phases 0, 1 of tile l + 1, i.e. of quads 1 .. 4
      const __m256 u0 = _mm256_unpacklo_ps(q1, q2), u1 = _mm256_unpacklo_ps(q3, q4);
      d[4] = _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(1, 0, 1, 0));
      d[5] = _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 2, 3, 2));
    }
  }
};

struct Ymm2 {
  using Row = Ymm1;  // the input transform runs on single YMM rows (wino_input_two_pass)

  // The product's register tile (winograd_impl.h): one block x one group, whose 6 accumulators of
  // two YMM each already fill most of the register file.
  static constexpr int kGroup = kWinogradGroupAvx2;  // tiles per group
  static constexpr int kTileBlocks = 1, kTileGroups = 1;
  struct T {
    __m256 lo, hi;
  };
  static T load(const float* p) { return T{_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static void store(float* p, T v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  static void store_first(float* p, T v, int n) {
    store_first_lanes(p, v.lo, n);
    store_first_lanes(p + 8, v.hi, n - 8);
  }
  static T load_first(const float* p, int n) {
    return T{_mm256_maskload_ps(p, lane_mask(n < 8 ? n : 8)), _mm256_maskload_ps(p + 8, lane_mask(n > 8 ? n - 8 : 0))};
  }
  // One row of an output tile, count (kM: 2 or 4) pixels of 16 channels (n of them inside the
  // image), down the rows of y: channel r < rows at y + r * ldy, n floats, after the residual
  // (laid out like y) and ReLU. Transposed in registers, so that a channel's row takes one store
  // (or two for 3 pixels) where the generic path wrote every float on its own.
  static void store_rows(const T* v, int count, int n, int rows, float* y, const float* res, size_t ldy, bool relu) {
    const __m128i m = _mm256_castsi256_si128(lane_mask(n));
    for (int h = 0; h < 2; ++h) {
      auto part = [&](int j) { return h ? v[j].hi : v[j].lo; };
      // ch[c]: channel 8h + c of the count pixels, in the low lanes.
      __m128 ch[8];
      const __m256 t0 = _mm256_unpacklo_ps(part(0), part(1)), t1 = _mm256_unpackhi_ps(part(0), part(1));
      __m256 u[4];
      if (count == 4) {  // pixel j of channel c in lane j; channels c and c + 4 in the two halves of u[c]
        const __m256 t2 = _mm256_unpacklo_ps(part(2), part(3)), t3 = _mm256_unpackhi_ps(part(2), part(3));
        u[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
        u[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
        u[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
        u[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
      } else {  // count 2: the pairs of channels c, c + 1 (c even) side by side
        u[0] = t0, u[2] = t1;
        u[1] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t0)));
        u[3] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t1)));
      }
      for (int c = 0; c < 4; ++c) {
        ch[c] = _mm256_castps256_ps128(u[c]);
        ch[c + 4] = _mm256_extractf128_ps(u[c], 1);
      }
      for (int c = 0; c < 8; ++c) {
        const int r = 8 * h + c;
        if (r >= rows) return;
        __m128 w = ch[c];
        if (res) w = _mm_add_ps(w, _mm_maskload_ps(res + size_t(r) * ldy, m));
        if (relu) w = _mm_max_ps(w, _mm_setzero_ps());
        store_first_lanes(y + size_t(r) * ldy, w, n);
      }
    }
  }
  static T zero() { return T{_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static T set1(float f) { return T{_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
  static T add(T a, T b) { return T{_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static T sub(T a, T b) { return T{_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
  static T mul(T a, T b) { return T{_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  static T fmadd(T a, T b, T c) { return T{_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static T fnmadd(T a, T b, T c) { return T{_mm256_fnmadd_ps(a.lo, b.lo, c.lo), _mm256_fnmadd_ps(a.hi, b.hi, c.hi)}; }
  static T fma_bcast(T acc, T u, const float* p) {
    const __m256 b = _mm256_broadcast_ss(p);
    return T{_mm256_fmadd_ps(u.lo, b, acc.lo), _mm256_fmadd_ps(u.hi, b, acc.hi)};
  }
};

}  // namespace

void winograd_input_f32_3x3_avx2(const WinogradInputArgs& a) { wino_input_any<Ymm2>(a); }
void winograd_product_f32_3x3_avx2(const WinogradProductArgs& a) { wino_product_any<Ymm2>(a); }
void winograd_weights_f32_3x3_avx2(const WinogradWeightsArgs& a) { wino_weights_any<Ymm2>(a); }

}  // namespace ds::kernels::detail
