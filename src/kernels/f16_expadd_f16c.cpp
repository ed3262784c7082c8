// f16_expadd_f16c: FP16 activations. Each k row of x is rounded to FP16 (F16C, round to nearest
// even: |x| >= 65520 becomes inf), the product is the exponent add on the 16-bit pattern, 16
// lanes at a time (f16_mul_pow2_expadd is the same rule per lane), and each product is widened
// back to FP32 and summed in FP32 with k ascending. So y equals, bit for bit,
//   acc = 0; for k: acc += float(f16_mul_pow2_expadd(fp16(x[k][n]), code(m, k)))
// Special values: +-0 adds nothing; |x| below the FP16 normal range (2^-14) is flushed and adds
// nothing; an FP16 product that overflows (|x| * 2^P >= 65520) is +-inf; inf/NaN pass through.
// Converting x costs two instructions per 8 floats per k, shared by the rows of a tile; a
// deployment that keeps activations in FP16 would not pay it.
#include <immintrin.h>

#include "kernels/avx2_tiles.h"

namespace ds::kernels::detail {
namespace {

struct ExpAddF16 {
  static constexpr int kWords = 2, kRows = 6, kLanes = 16, kV = 1;

  static void decode(unsigned code, int bits, uint32_t* out) {
    // 16-bit values stored twice per word, so one 32-bit broadcast (a plain load) fills a vector.
    const uint32_t add = uint32_t(core::code_exponent(uint8_t(code), bits)) << 10;
    const uint32_t sign = core::code_negative(uint8_t(code), bits) ? 0x8000u : 0u;
    out[0] = add | add << 16;
    out[1] = sign | sign << 16;
  }

  struct Weight {
    __m256i add, sign;
  };
  static Weight weight(const uint32_t* w) {
    return Weight{_mm256_set1_epi32(int(w[0])), _mm256_set1_epi32(int(w[1]))};
  }

  // The FP32 policy's rule (f32_expadd_avx2.h) on 16-bit lanes: cap is 0 for +-0 and
  // subnormals, else max(|h|, inf); the product is min(|h| + (P << 10), cap) | sign. |h| + add
  // stays below 0x7fff + 0x3c00 < 2^16, so the unsigned min sees no wrap-around.
  struct Prep {
    __m256i mag, sign, cap;
  };
  template <bool kMasked>
  static Prep load(const float* x, int rem) {
    __m256 lo, hi;
    if constexpr (kMasked) {
      // rem < 16; the upper half is touched only when some of it is inside the row.
      lo = _mm256_maskload_ps(x, lane_mask(rem));
      hi = rem > 8 ? _mm256_maskload_ps(x + 8, lane_mask(rem - 8)) : _mm256_setzero_ps();
    } else {
      lo = _mm256_loadu_ps(x);
      hi = _mm256_loadu_ps(x + 8);
    }
    const __m256i h = _mm256_set_m128i(_mm256_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT),
                                       _mm256_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
    Prep p;
    p.mag = _mm256_and_si256(h, _mm256_set1_epi16(0x7fff));
    p.sign = _mm256_xor_si256(h, p.mag);
    const __m256i live = _mm256_cmpgt_epi16(p.mag, _mm256_set1_epi16(0x03ff));
    p.cap = _mm256_and_si256(_mm256_max_epu16(p.mag, _mm256_set1_epi16(0x7c00)), live);
    return p;
  }

  struct Acc {
    __m256 lo, hi;  // lanes 0..7 and 8..15 of the tile
  };
  static Acc zero() { return Acc{_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static void step(Acc& acc, const Prep& x, const Weight& w) {
    const __m256i t = _mm256_min_epu16(_mm256_add_epi16(x.mag, w.add), x.cap);
    const __m256i prod = _mm256_or_si256(t, _mm256_xor_si256(x.sign, w.sign));
    acc.lo = _mm256_add_ps(acc.lo, _mm256_cvtph_ps(_mm256_castsi256_si128(prod)));
    acc.hi = _mm256_add_ps(acc.hi, _mm256_cvtph_ps(_mm256_extracti128_si256(prod, 1)));
  }
  template <bool kMasked>
  static void store(float* y, const Acc& acc, int rem) {
    if constexpr (kMasked) {
      store_first_lanes(y, acc.lo, rem);
      store_first_lanes(y + 8, acc.hi, rem - 8);
    } else {
      _mm256_storeu_ps(y, acc.lo);
      _mm256_storeu_ps(y + 8, acc.hi);
    }
  }
};

}  // namespace

void gemm_f16_expadd_f16c(const GemmArgs& a) { run_gemm<ExpAddF16>(a); }

}  // namespace ds::kernels::detail
