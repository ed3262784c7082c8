// The portable FP32 kernels: exact products, equality with a plain float dot product, the
// zero-weight baseline, argument checks and reads that stop at the end of a row.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <stdexcept>

#include "kernel_test_util.h"
#include "kernels/f32_pow2.h"

namespace ds::kernels::test {
namespace {

// Activations covering every special case of the exponent add.
std::vector<float> special_values(std::mt19937& rng) {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          u2f(0x00000001),  // smallest subnormal
                          u2f(0x007fffff),  // largest subnormal
                          -u2f(0x00012345),
                          u2f(0x00400000),
                          FLT_MIN,
                          -FLT_MIN,
                          FLT_MAX,
                          -FLT_MAX,
                          std::ldexp(1.0f, 127),
                          std::ldexp(1.5f, 113),   // overflows from 2^15 up
                          -std::ldexp(1.75f, 120),  // overflows from 2^8 up
                          std::ldexp(1.0f, 112),   // 2^112 * 2^15 = 2^127: just fits
                          INFINITY,
                          -INFINITY,
                          std::nanf(""),
                          -std::nanf(""),
                          u2f(0x7f800001),  // signaling NaN
                          1.0f,
                          -3.0f,
                          0.1f};
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200; ++i) v.push_back(u2f(any(rng)));  // all exponents, signs, NaNs
  return v;
}

// The internal product helpers against IEEE multiplication: every exponent field, mantissas at
// both ends and at random, every p, both weight signs, both x signs. The fast path is taken
// where its window allows, exactly as f32_axpy_pow2 does.
TEST(F32ExactProduct, MatchesIeeeMultiplyOnEveryExponent) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<uint32_t> man(0, 0x7fffff);
  long checked = 0;
  for (uint32_t e = 0; e < 256; ++e) {
    for (int i = 0; i < 300; ++i) {
      const uint32_t m = i == 0 ? 0 : i == 1 ? 1 : i == 2 ? 0x7fffff : man(rng);
      for (uint32_t s : {0u, 0x80000000u}) {
        const uint32_t xb = s | e << 23 | m;
        for (unsigned p = 0; p < 16; ++p) {
          for (uint32_t ws : {0u, 0x80000000u}) {
            const float w = ws ? -std::ldexp(1.0f, int(p)) : std::ldexp(1.0f, int(p));
            const float want = u2f(xb) * w;
            const float got = u2f(detail::f32_mul_pow2_slow(xb, p, ws));
            ASSERT_TRUE(same_float(want, got))
                << std::hex << "x=0x" << xb << " p=" << std::dec << p << " neg=" << (ws != 0)
                << " want " << want << " got " << got;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 256L * 300 * 2 * 16 * 2);
}

// Each single product through the scalar kernel (M = 1, K = 1) equals IEEE x * w, for every
// code of every width. y is a sum that starts at +0, so a -0 product shows as +0 (as in any
// float dot product); NaN may be any NaN.
TEST(F32ExpAddScalar, SingleProductsAreIeeeExact) {
  const KernelInfo* k = find_supported("f32_expadd_scalar");
  ASSERT_NE(k, nullptr);
  std::mt19937 rng(2);
  const std::vector<float> x = special_values(rng);
  const int N = int(x.size());
  for (int bits = 2; bits <= 5; ++bits) {
    for (int code = 0; code < (1 << bits); ++code) {
      const PackedCodes p = pack({uint8_t(code)}, 1, 1, bits, 0);
      const std::vector<float> y = run(*k, p, N, x);
      const float w = dense_weight(uint8_t(code), bits);
      for (int n = 0; n < N; ++n) {
        const float want = 0.0f + x[n] * w;
        ASSERT_TRUE(same_float(want, y[n]))
            << "bits=" << bits << " code=" << code << " x=" << x[n] << " (0x" << std::hex
            << f2u(x[n]) << std::dec << ") want " << want << " got " << y[n];
      }
    }
  }
}

// Whole products: the scalar kernel is bit-equal to a float loop, every input class included.
TEST(F32ExpAddScalar, EqualsPlainFloatDotProductOnRandomShapes) {
  const KernelInfo* k = find_supported("f32_expadd_scalar");
  ASSERT_NE(k, nullptr);
  std::mt19937 rng(3);
  const std::vector<float> pool = special_values(rng);
  std::uniform_int_distribution<int> dim(1, 37), bits_d(2, 5), pick(0, int(pool.size()) - 1);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const int M = dim(rng), K = dim(rng), N = dim(rng), bits = bits_d(rng);
    const PackedCodes p = random_codes(rng, M, K, bits, size_t(trial % 3));
    std::vector<float> x(size_t(K) * N);
    // Half of the trials finite and ordinary, half sprinkled with special values.
    for (auto& v : x) v = (trial % 2 && rng() % 4 == 0) ? pool[pick(rng)] : u(rng);
    const std::vector<float> y = run(*k, p, N, x), want = plain_gemm(p, N, x, dense_weight);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_TRUE(same_float(want[i], y[i]))
          << "trial " << trial << " M=" << M << " K=" << K << " N=" << N << " bits=" << bits
          << " i=" << i << " want " << want[i] << " got " << y[i];
    }
  }
}

TEST(F32ShiftZeroScalar, EqualsPlainFloatDotProductWithZeroWeights) {
  const KernelInfo* k = find_supported("f32_shiftzero_scalar");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->weights, WeightSet::kShiftWithZero);
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> dim(1, 37), bits_d(2, 5);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const int M = dim(rng), K = dim(rng), N = dim(rng), bits = bits_d(rng);
    const PackedCodes p = random_codes(rng, M, K, bits, size_t(trial % 2));
    std::vector<float> x(size_t(K) * N);
    for (auto& v : x) {
      const int r = int(rng() % 8);
      v = r == 0 ? 0.0f : r == 1 ? u2f(uint32_t(rng() % 0x800000)) : r == 2 ? 1e30f * u(rng) : u(rng);
    }
    const std::vector<float> y = run(*k, p, N, x), want = plain_gemm(p, N, x, zero_weight);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_TRUE(same_float(want[i], y[i])) << "trial " << trial << " i=" << i;
    }
  }
}

// A zero weight contributes nothing even where IEEE 0 * inf or 0 * NaN would be NaN; a
// non-zero weight times inf is inf.
TEST(F32ShiftZero, ZeroWeightIgnoresInfAndNaN) {
  for (const char* name : {"f32_shiftzero_scalar", "f32_shiftzero_avx2"}) {
    const KernelInfo* k = find_supported(name);
    if (!k) continue;
    SCOPED_TRACE(name);
    for (int bits = 2; bits <= 5; ++bits) {
      const uint8_t zero_neg = uint8_t(1u << (bits - 1));  // E = 0 with the sign bit set
      const uint8_t one = 1;                               // E = 1: +2^0
      // Rows: {0, 0}, {-0, 0}, {1, 0}; x column 0 = {inf, NaN}, column 1 = {2, 3}.
      const PackedCodes p = pack({0, 0, zero_neg, 0, one, 0}, 3, 2, bits, 0);
      const std::vector<float> x = {INFINITY, 2.0f, std::nanf(""), 3.0f};
      const std::vector<float> y = run(*k, p, 2, x);
      EXPECT_EQ(f2u(y[0]), 0u);
      EXPECT_EQ(f2u(y[1]), 0u);
      EXPECT_EQ(f2u(y[2]), 0u);
      EXPECT_EQ(f2u(y[3]), 0u);
      EXPECT_EQ(y[4], INFINITY);
      EXPECT_EQ(y[5], 2.0f);
    }
  }
}

// y is overwritten (also with K = 0), and bad arguments are rejected, by every kernel.
TEST(AllKernels, EmptySumsAndArgumentChecks) {
  for (const KernelInfo& k : all_kernels()) {
    if (!k.supported()) continue;
    SCOPED_TRACE(k.name);
    const PackedCodes p = pack({}, 3, 0, 3, 1);
    const std::vector<float> y = run(k, p, 5, {});
    for (float v : y) EXPECT_EQ(f2u(v), 0u);

    const PackedCodes q = pack({1, 2, 3}, 1, 3, 3, 0);
    std::vector<float> x(3 * 4, 1.0f), out(4);
    GemmArgs a = args_for(q, 4, x.data(), out.data());
    a.bits = 6;
    EXPECT_THROW(k.fn(a), std::invalid_argument);
    a = args_for(q, 4, x.data(), out.data());
    a.row_bytes = 1;  // 3 codes of 3 bits need 2 bytes
    EXPECT_THROW(k.fn(a), std::invalid_argument);
    a = args_for(q, 4, x.data(), out.data());
    a.N = -1;
    EXPECT_THROW(k.fn(a), std::invalid_argument);
  }
}

}  // namespace
}  // namespace ds::kernels::test
