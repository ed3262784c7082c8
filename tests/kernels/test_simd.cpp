// The SIMD kernels (AVX2 on x86, NEON on aarch64) against the scalar reference on random shapes,
// and their documented departures from it (flushed subnormals, FMA overflow). Each check is a
// function run once per ISA's kernel of that kind; skipped where the binary or CPU lacks it.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>

#include "kernel_test_util.h"

namespace ds::kernels::test {
namespace {

const KernelInfo& reference() { return *find_supported("f32_expadd_scalar"); }

#define REQUIRE_KERNEL(var, name)                                        \
  const KernelInfo* var = find_supported(name);                          \
  if (!var) GTEST_SKIP() << name << " is not supported on this CPU"

enum class Inputs {
  kRelu,       // zeros (a third) and positive normals over a wide range
  kSigned,     // signed normals, some zeros
  kSpecial,    // plus subnormals, inf, NaN (products never overflow)
  kOverflow,   // plus values whose products overflow
};

float draw(std::mt19937& rng, Inputs in) {
  std::uniform_real_distribution<float> u(1.0f, 2.0f);
  std::uniform_int_distribution<int> e(-40, 40), r(0, 11);
  const float normal = std::ldexp(u(rng), e(rng)) * (in == Inputs::kRelu || rng() % 2 ? 1 : -1);
  const int c = r(rng);
  if (c < 3 && in == Inputs::kRelu) return 0.0f;
  if (c == 0) return rng() % 2 ? 0.0f : -0.0f;
  if (in == Inputs::kSpecial || in == Inputs::kOverflow) {
    if (c == 1) return u2f(uint32_t(rng() % 0x800000) | (rng() % 2 ? 0x80000000u : 0u));
    if (c == 2) return rng() % 2 ? INFINITY : -INFINITY;
    if (c == 3 && rng() % 4 == 0) return std::nanf("");
    if (c == 4 && in == Inputs::kOverflow) return std::ldexp(u(rng), 110 + int(rng() % 18));
  }
  return normal;
}

std::vector<float> flush_subnormals(std::vector<float> x) {
  for (auto& v : x) {
    if (v != 0.0f && std::fabs(v) < FLT_MIN) v = 0.0f;
  }
  return x;
}

// Runs `trials` random problems (M, K, N in 1..37, bits 2..5, padded and unpadded rows) and
// checks kernel == reference on `model(x)` bit for bit (NaN matching NaN).
template <class Model>
void compare_random(const KernelInfo& k, const KernelInfo& ref, Inputs in, Model model,
                    unsigned seed, int trials = 300) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dim(1, 37), bits_d(2, 5);
  for (int trial = 0; trial < trials; ++trial) {
    const int M = dim(rng), K = dim(rng), N = dim(rng), bits = bits_d(rng);
    const PackedCodes p = random_codes(rng, M, K, bits, size_t(trial % 3 == 0));
    std::vector<float> x(size_t(K) * N);
    for (auto& v : x) v = draw(rng, in);
    const std::vector<float> y = run(k, p, N, x), want = run(ref, p, N, model(x));
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_TRUE(same_float(want[i], y[i]))
          << k.name << " trial " << trial << " M=" << M << " K=" << K << " N=" << N
          << " bits=" << bits << " m=" << i / N << " n=" << i % N << " want " << want[i]
          << " got " << y[i];
    }
  }
}

const auto identity = [](const std::vector<float>& x) { return x; };

void expadd_bit_equal_without_subnormals(const KernelInfo& k) {
  compare_random(k, reference(), Inputs::kRelu, identity, 10);
  compare_random(k, reference(), Inputs::kSigned, identity, 11);
}

// Subnormal x is flushed (adds nothing); everything else - zeros, inf, NaN, overflow to inf -
// is IEEE: the kernel equals the reference run on x with subnormals replaced by zero.
void expadd_special_values(const KernelInfo& k) {
  compare_random(k, reference(), Inputs::kSpecial, flush_subnormals, 12);
  compare_random(k, reference(), Inputs::kOverflow, flush_subnormals, 13);
  // Pinned: the largest subnormal times 2^15 would be normal; the SIMD kernels give 0.
  const PackedCodes p = pack({7, 15}, 2, 1, 5, 0);  // +2^7, +2^15
  const std::vector<float> x = {u2f(0x007fffff), -u2f(1), FLT_MAX, -std::ldexp(1.0f, 113),
                                INFINITY, 1.0f, 0.0f, -0.0f, 3.0f};
  const std::vector<float> y = run(k, p, int(x.size()), x);
  const int N = int(x.size());
  EXPECT_EQ(f2u(y[0]), 0u);
  EXPECT_EQ(f2u(y[1]), 0u);
  EXPECT_EQ(y[2], INFINITY);
  EXPECT_EQ(y[N + 3], -INFINITY);
  EXPECT_EQ(y[N + 4], INFINITY);
  EXPECT_EQ(y[N + 5], 32768.0f);
  EXPECT_EQ(y[N + 8], 3.0f * 32768.0f);
}

TEST(F32ExpAddAvx2, BitEqualToReferenceWithoutSubnormals) {
  REQUIRE_KERNEL(k, "f32_expadd_avx2");
  expadd_bit_equal_without_subnormals(*k);
}
TEST(F32ExpAddAvx2, SpecialValuesAsDocumented) {
  REQUIRE_KERNEL(k, "f32_expadd_avx2");
  expadd_special_values(*k);
}
TEST(F32ExpAddNeon, BitEqualToReferenceWithoutSubnormals) {
  REQUIRE_KERNEL(k, "f32_expadd_neon");
  expadd_bit_equal_without_subnormals(*k);
}
TEST(F32ExpAddNeon, SpecialValuesAsDocumented) {
  REQUIRE_KERNEL(k, "f32_expadd_neon");
  expadd_special_values(*k);
}

// FMA on w * x with w = +-2^P: the product is exact, so fma(w, x, acc) == acc + w * x and the
// kernel is bit-equal to the reference on every input, subnormals included, as long as no
// product overflows.
void decode_fma_bit_equal_unless_overflow(const KernelInfo& k) {
  EXPECT_FALSE(k.multiply_free);
  compare_random(k, reference(), Inputs::kRelu, identity, 20);
  compare_random(k, reference(), Inputs::kSigned, identity, 21);
  compare_random(k, reference(), Inputs::kSpecial, identity, 22);
  // Pinned: -FLT_MAX * 1 + FLT_MAX * 2. The reference rounds the second product to inf; FMA
  // adds the exact 2 * FLT_MAX and lands on FLT_MAX.
  const PackedCodes p = pack({0, 1}, 1, 2, 3, 0);  // +1, +2
  const std::vector<float> x = {-FLT_MAX, FLT_MAX};
  EXPECT_EQ(run(reference(), p, 1, x)[0], INFINITY);
  EXPECT_EQ(run(k, p, 1, x)[0], FLT_MAX);
}

TEST(F32DecodeFmaAvx2, BitEqualToReferenceUnlessAProductOverflows) {
  REQUIRE_KERNEL(k, "f32_decode_fma_avx2");
  decode_fma_bit_equal_unless_overflow(*k);
}
TEST(F32DecodeFmlaNeon, BitEqualToReferenceUnlessAProductOverflows) {
  REQUIRE_KERNEL(k, "f32_decode_fmla_neon");
  decode_fma_bit_equal_unless_overflow(*k);
}

void shiftzero_equals_plain_loop(const KernelInfo& k) {
  EXPECT_EQ(k.weights, WeightSet::kShiftWithZero);
  std::mt19937 rng(30);
  std::uniform_int_distribution<int> dim(1, 37), bits_d(2, 5);
  for (int trial = 0; trial < 300; ++trial) {
    const int M = dim(rng), K = dim(rng), N = dim(rng), bits = bits_d(rng);
    const PackedCodes p = random_codes(rng, M, K, bits, size_t(trial % 3 == 0));
    std::vector<float> x(size_t(K) * N);
    for (auto& v : x) {
      v = draw(rng, trial % 2 ? Inputs::kRelu : Inputs::kSigned);
      if (rng() % 10 == 0) v = u2f(uint32_t(rng() % 0x800000));  // flushed, like the DenseShift one
    }
    const std::vector<float> y = run(k, p, N, x);
    const std::vector<float> want = plain_gemm(p, N, flush_subnormals(x), zero_weight);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_TRUE(same_float(want[i], y[i])) << "trial " << trial << " i=" << i;
    }
    // Same structure as the scalar baseline, which is exact: equal on flushed inputs.
    const std::vector<float> s = run(*find_supported("f32_shiftzero_scalar"), p, N,
                                     flush_subnormals(x));
    for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(same_float(s[i], y[i]));
  }
}

TEST(F32ShiftZeroAvx2, EqualsPlainFloatDotProductWithZeroWeights) {
  REQUIRE_KERNEL(k, "f32_shiftzero_avx2");
  shiftzero_equals_plain_loop(*k);
}
TEST(F32ShiftZeroNeon, EqualsPlainFloatDotProductWithZeroWeights) {
  REQUIRE_KERNEL(k, "f32_shiftzero_neon");
  shiftzero_equals_plain_loop(*k);
}

// Larger shapes: several full 6 x 16 (AVX2) or 6 x 8 (NEON) tiles plus every row remainder
// (M % 6) and column remainder (whole and partial vectors).
TEST(SimdKernels, LargerShapesMatchReference) {
  std::mt19937 rng(40);
  for (const char* name : {"f32_expadd_avx2", "f32_decode_fma_avx2", "f32_expadd_neon",
                           "f32_decode_fmla_neon"}) {
    const KernelInfo* k = find_supported(name);
    if (!k) continue;
    for (int M : {6, 7, 8, 9, 10, 11, 13}) {
      for (int N : {16, 47, 64, 129, 200, 4, 9, 14}) {
        const int K = 75, bits = 3 + (M % 3);
        const PackedCodes p = random_codes(rng, M, K, bits, 0);
        std::vector<float> x(size_t(K) * N);
        for (auto& v : x) v = draw(rng, Inputs::kRelu);
        const std::vector<float> y = run(*k, p, N, x), want = run(reference(), p, N, x);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_TRUE(same_float(want[i], y[i])) << name << " M=" << M << " N=" << N;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ds::kernels::test
