// f32_winograd_3x3_avx512: Winograd F(2x2, 3x3) and F(4x4, 3x3) (winograd.h, algorithm in
// winograd_impl.h) with AVX-512F: one ZMM is a vector of 16 lanes (16 output channels, or 16
// tiles in the input transform), the embedded-broadcast FMA the inner product's instruction, and
// a tile's every m-th input column two VPERMT2PS away.
#include "kernels/pgemm_avx512.h"
#include "kernels/winograd_impl.h"

#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC warning; clang has no such group and would warn about the name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace ds::kernels::detail {
namespace {

struct Zmm16 {
  // 2 blocks x 2 groups of 7 tiles: 28 ZMM accumulators, each broadcast of V serving 2 FMAs
  static constexpr int kGroup = kWinogradGroupAvx512;  // tiles per group
  static constexpr int kTileBlocks = 2, kTileGroups = 2;
  using T = __m512;
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static __mmask16 first(int n) { return __mmask16((1u << n) - 1); }
  static void store_first(float* p, T v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  static T load_first(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  // Two rows' tiles in one vector (winograd_impl.h, HasStridedRows): one VPERMT2PS per row over
  // its first 32 floats, where strided() takes two per 16 lanes.
  template <int kM>
  static T strided_rows(const float* r0, const float* r1, int j, int n) {
    const __m512i l = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __mmask16 second = __mmask16(~first(n));
    const __m512i tile = _mm512_mask_sub_epi32(l, second, l, _mm512_set1_epi32(n));  // the lane's tile in its row
    const __m512i idx = _mm512_add_epi32(_mm512_slli_epi32(tile, kM == 4 ? 2 : 1), _mm512_set1_epi32(j));
    const __m512 a = _mm512_permutex2var_ps(_mm512_loadu_ps(r0), idx, _mm512_loadu_ps(r0 + 16));
    const __m512 b = _mm512_permutex2var_ps(_mm512_loadu_ps(r1), idx, _mm512_loadu_ps(r1 + 16));
    return _mm512_mask_blend_ps(second, a, b);
  }
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float f) { return _mm512_set1_ps(f); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }
  static T fma_bcast(T acc, T u, const float* p) { return _mm512_fmadd_ps(u, _mm512_set1_ps(*p), acc); }
  // A tile row's outputs down the rows of y (winograd_impl.h, HasStoreRows): pgemm_avx512.h's transpose.
  static void store_rows(const T* v, int count, int n, int rows, float* y, const float* res, size_t ldy, bool relu) {
    T w[8];
    for (int j = 0; j < 8; ++j) w[j] = j < count ? v[j] : _mm512_setzero_ps();
    store_channel_rows(w, n, rows, y, res, ldy, relu);
  }
  template <int kM>
  static T strided(const float* r, int j) {
    const __m512i idx = _mm512_add_epi32(
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(kM)),
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
};

}  // namespace

void winograd_input_f32_3x3_avx512(const WinogradInputArgs& a) { wino_input_any<Zmm16>(a); }
void winograd_product_f32_3x3_avx512(const WinogradProductArgs& a) { wino_product_any<Zmm16>(a); }
void winograd_weights_f32_3x3_avx512(const WinogradWeightsArgs& a) { wino_weights_any<Zmm16>(a); }

}  // namespace ds::kernels::detail

#pragma GCC diagnostic pop
