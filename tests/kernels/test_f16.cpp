// FP16 activations: the scalar exponent-add product on every FP16 pattern, the FP16 kernels
// (F16C on x86; NEON with FP32 sums and with ARMv8.2 FP16 sums on aarch64) against models built
// from it, and the tests' own FP16 conversions against F16C hardware.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "kernels/f16_expadd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ds::kernels::test {
namespace {

bool half_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

// All 65,536 patterns times every code of widths 2..5: the product equals the FP16 rounding of
// float(h) * w (exact in FP32: w is a power of two), except that a subnormal h gives the signed
// zero +-0 * w, and a NaN h gives some NaN.
TEST(F16ExpAdd, EveryPatternEveryCode) {
  long checked = 0;
  for (int bits = 2; bits <= 5; ++bits) {
    for (int code = 0; code < (1 << bits); ++code) {
      const float w = dense_weight(uint8_t(code), bits);
      const uint16_t wsign = w < 0 ? 0x8000 : 0;
      for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t got = f16_mul_pow2_expadd(uint16_t(h), uint8_t(code), bits);
        uint16_t want;
        if (half_is_nan(uint16_t(h))) {
          ASSERT_TRUE(half_is_nan(got)) << std::hex << "h=0x" << h << " got 0x" << got;
          ++checked;
          continue;
        } else if ((h & 0x7c00) == 0) {
          want = uint16_t((h & 0x8000) ^ wsign);  // zero: IEEE; subnormal: flushed
        } else {
          want = float_to_half(half_to_float(uint16_t(h)) * w);
        }
        ASSERT_EQ(got, want) << std::hex << "h=0x" << h << " bits=" << std::dec << bits
                             << " code=" << code;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 65536L * (4 + 8 + 16 + 32));
}

// Sanity of the test's own FP16 helpers on values they must get right without hardware.
TEST(F16TestHelpers, KnownValues) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie to even
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -26)), 0x0001);  // above the tie
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(3.0f, -11)), 0x3c02);  // tie to even, upward
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0xfbff), -65504.0f);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("f16c"))) uint16_t hw_to_half(float f) {
  return uint16_t(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
}
__attribute__((target("f16c"))) float hw_to_float(uint16_t h) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

// The test's conversions agree with F16C: every FP16 pattern, every midpoint between
// neighbouring FP16 values (the ties), and random FP32 patterns.
TEST(F16TestHelpers, MatchF16cHardware) {
  // The F16C kernel is listed as supported only where F16C is (it also needs AVX2, so an
  // F16C-only CPU skips this test too).
  if (!find_supported("f16_expadd_f16c")) GTEST_SKIP() << "no F16C";
  for (uint32_t h = 0; h < 65536; ++h) {
    ASSERT_TRUE(same_float(half_to_float(uint16_t(h)), hw_to_float(uint16_t(h)))) << h;
    if ((h & 0x7fff) >= 0x7c00) continue;
    const float a = half_to_float(uint16_t(h));
    for (float f : {a, std::nextafter(a, 0.0f), std::nextafter(a, 2 * a)}) {
      ASSERT_EQ(float_to_half(f), hw_to_half(f)) << f;
    }
    if ((h & 0x7fff) < 0x7bff) {
      const float mid = (a + half_to_float(uint16_t(h + 1))) / 2;  // exact in FP32
      ASSERT_EQ(float_to_half(mid), hw_to_half(mid)) << std::hex << h;
    }
  }
  std::mt19937 rng(50);
  for (int i = 0; i < 1000000; ++i) {
    const float f = u2f(uint32_t(rng()));
    const uint16_t a = float_to_half(f), b = hw_to_half(f);
    ASSERT_TRUE(a == b || (half_is_nan(a) && half_is_nan(b))) << f;
  }
}
#endif

#define REQUIRE_KERNEL(var, name)                                        \
  const KernelInfo* var = find_supported(name);                          \
  if (!var) GTEST_SKIP() << name << " is not supported on this CPU"

// The FP16 kernels' model for one output: products f16_mul_pow2_expadd(fp16(x), code), summed
// with k ascending either in FP32 (acc += float(prod)) or in FP16 (acc = fp16(acc + prod), the
// ARMv8.2 kernel). For the FP16 sums the add is done in FP32 and then rounded to FP16: two FP16
// operands, so the double rounding is innocuous (24 >= 2 * 11 + 2 bits), i.e. this is exactly
// the correctly rounded FP16 add.
float f16_model(const PackedCodes& p, int N, const std::vector<float>& x, int m, int n,
                bool fp16_sums) {
  float acc = 0.0f;
  for (int k = 0; k < p.K; ++k) {
    const uint16_t h = float_to_half(x[size_t(k) * N + n]);
    acc += half_to_float(f16_mul_pow2_expadd(h, p.code(m, k), p.bits));
    if (fp16_sums) acc = half_to_float(float_to_half(acc));
  }
  return acc;
}

// Every FP16 pattern h (as x = float(h), which rounds back to h) times every code of widths
// 2..5, through the kernel with K = 1: y must be +0 + float(f16_mul_pow2_expadd(h, code)).
void every_pattern_every_code(const KernelInfo& k) {
  std::vector<float> x(65536);
  for (uint32_t h = 0; h < 65536; ++h) x[h] = half_to_float(uint16_t(h));
  for (int bits = 2; bits <= 5; ++bits) {
    std::vector<uint8_t> codes(size_t(1) << bits);
    for (size_t c = 0; c < codes.size(); ++c) codes[c] = uint8_t(c);
    const PackedCodes p = pack(codes, int(codes.size()), 1, bits, 0);
    const std::vector<float> y = run(k, p, 65536, x);
    for (size_t c = 0; c < codes.size(); ++c) {
      for (uint32_t h = 0; h < 65536; ++h) {
        const float want = 0.0f + half_to_float(f16_mul_pow2_expadd(uint16_t(h), uint8_t(c), bits));
        ASSERT_TRUE(same_float(want, y[c * 65536 + h]))
            << k.name << std::hex << " h=0x" << h << std::dec << " bits=" << bits << " code=" << c
            << " want " << want << " got " << y[c * 65536 + h];
      }
    }
  }
}

// Random shapes, bit for bit against f16_model.
void equals_scalar_model(const KernelInfo& k, bool fp16_sums) {
  EXPECT_TRUE(k.fp16_activations);
  EXPECT_TRUE(k.multiply_free);
  std::mt19937 rng(60);
  std::uniform_int_distribution<int> dim(1, 37), bits_d(2, 5), e(-30, 18), cls(0, 15);
  std::uniform_real_distribution<float> u(1.0f, 2.0f);
  for (int trial = 0; trial < 400; ++trial) {
    const int M = dim(rng), K = dim(rng), N = trial == 0 ? 37 : dim(rng), bits = bits_d(rng);
    const PackedCodes p = random_codes(rng, M, K, bits, size_t(trial % 2));
    std::vector<float> x(size_t(K) * N);
    for (auto& v : x) {
      // Wide exponents: FP16 subnormals (flushed), overflow, rounding; plus zeros and specials.
      const int c = cls(rng);
      v = c < 3 ? 0.0f : std::ldexp(u(rng), e(rng)) * (rng() % 2 ? 1.0f : -1.0f);
      if (c == 3 && trial % 4 == 0) v = rng() % 2 ? INFINITY : std::nanf("");
    }
    const std::vector<float> y = run(k, p, N, x);
    for (int m = 0; m < M; ++m) {
      for (int n = 0; n < N; ++n) {
        const float want = f16_model(p, N, x, m, n, fp16_sums);
        ASSERT_TRUE(same_float(want, y[size_t(m) * N + n]))
            << k.name << " trial " << trial << " M=" << M << " K=" << K << " N=" << N
            << " m=" << m << " n=" << n << " want " << want << " got " << y[size_t(m) * N + n];
      }
    }
  }
}

// Against the FP32 reference, for values well inside FP16's normal range: each term is off by
// at most 2^-11 relative (the rounding of x), plus FP32 summation differences; with FP16 sums,
// each of the K partial sums adds another 2^-11 of at most the sum of magnitudes.
void close_to_fp32_reference(const KernelInfo& k, bool fp16_sums) {
  std::mt19937 rng(61);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  const int M = 9, K = 40, N = 33;
  const PackedCodes p = random_codes(rng, M, K, 3, 0);  // |w| <= 8: no FP16 overflow
  std::vector<float> x(size_t(K) * N);
  for (auto& v : x) {
    v = u(rng);
    if (std::fabs(v) < 0.3f) v = 0.0f;  // zeros as after ReLU; the rest far from FP16's limits
  }
  const std::vector<float> y = run(k, p, N, x);
  const std::vector<float> ref = run(*find_supported("f32_expadd_scalar"), p, N, x);
  const double rel = std::ldexp(1.0, -11) * (fp16_sums ? K + 1 : 1) + 80 * std::ldexp(1.0, -24);
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      double mag = 0;
      for (int kk = 0; kk < K; ++kk)
        mag += std::fabs(dense_weight(p.code(m, kk), 3) * x[size_t(kk) * N + n]);
      const size_t i = size_t(m) * N + n;
      EXPECT_NEAR(y[i], ref[i], mag * rel) << k.name;
    }
  }
}

// f16_expadd_f16c and f16_expadd_neon: y == acc = 0; for k: acc += float(prod), bit for bit.
TEST(F16ExpAddF16c, EveryPatternEveryCode) {
  REQUIRE_KERNEL(k, "f16_expadd_f16c");
  every_pattern_every_code(*k);
}
TEST(F16ExpAddF16c, EqualsScalarModel) {
  REQUIRE_KERNEL(k, "f16_expadd_f16c");
  equals_scalar_model(*k, false);
}
TEST(F16ExpAddF16c, CloseToFp32Reference) {
  REQUIRE_KERNEL(k, "f16_expadd_f16c");
  close_to_fp32_reference(*k, false);
}
TEST(F16ExpAddNeon, EveryPatternEveryCode) {
  REQUIRE_KERNEL(k, "f16_expadd_neon");
  every_pattern_every_code(*k);
}
TEST(F16ExpAddNeon, EqualsScalarModel) {
  REQUIRE_KERNEL(k, "f16_expadd_neon");
  equals_scalar_model(*k, false);
}
TEST(F16ExpAddNeon, CloseToFp32Reference) {
  REQUIRE_KERNEL(k, "f16_expadd_neon");
  close_to_fp32_reference(*k, false);
}
// f16_expadd_fp16arith_neon: y == float(acc), acc = fp16(acc + prod) after every k.
TEST(F16ExpAddFp16ArithNeon, EveryPatternEveryCode) {
  REQUIRE_KERNEL(k, "f16_expadd_fp16arith_neon");
  every_pattern_every_code(*k);
}
TEST(F16ExpAddFp16ArithNeon, EqualsFp16AccumulatingModel) {
  REQUIRE_KERNEL(k, "f16_expadd_fp16arith_neon");
  equals_scalar_model(*k, true);
}
TEST(F16ExpAddFp16ArithNeon, CloseToFp32Reference) {
  REQUIRE_KERNEL(k, "f16_expadd_fp16arith_neon");
  close_to_fp32_reference(*k, true);
}

}  // namespace
}  // namespace ds::kernels::test
