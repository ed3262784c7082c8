// The matvec kernels (kernels/matvec.h): layout round trip, every kernel against a
// double-precision reference with a relative tolerance (their sum order is not k-ascending),
// epilogue (scale, bias, relu), row sub-ranges, argument checks and the kernel table.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <stdexcept>

#include "kernel_test_util.h"
#include "kernels/matvec.h"

namespace ds::kernels::test {
namespace {

constexpr float kUntouched = -12345.0f;

std::vector<uint8_t> to_matvec(const PackedCodes& p) {
  std::vector<uint8_t> out(matvec_packed_bytes(p.M, p.K, p.bits), 0xAB);
  matvec_pack(p.packed.empty() ? nullptr : p.packed.data(), p.row_bytes, p.bits, p.M, p.K,
              out.empty() ? nullptr : out.data());
  return out;
}

struct Case {
  int bits, M, K, N;
  bool scale, bias, relu;
  int m0, m1;
};

// y (N x M, rows outside [m0, m1) must stay kUntouched) against a double reference.
void check(const MatvecKernelInfo& kern, const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(std::string(kern.name) + " bits=" + std::to_string(c.bits) + " M=" +
               std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
               " scale=" + std::to_string(c.scale) + " bias=" + std::to_string(c.bias) +
               " relu=" + std::to_string(c.relu) + " rows=[" + std::to_string(c.m0) + "," +
               std::to_string(c.m1) + ")");
  const PackedCodes p = random_codes(rng, c.M, c.K, c.bits, size_t(c.M) % 3);
  const std::vector<uint8_t> packed = to_matvec(p);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> x(size_t(c.N) * c.K), scale(c.M), bias(c.M);
  for (auto& v : x) v = u(rng);
  for (auto& v : scale) v = u(rng);
  for (auto& v : bias) v = u(rng);
  std::vector<float> y(size_t(c.N) * c.M, kUntouched);
  MatvecArgs a{};
  a.packed = packed.empty() ? nullptr : packed.data();
  a.bits = c.bits;
  a.M = c.M;
  a.K = c.K;
  a.N = c.N;
  a.x = x.empty() ? nullptr : x.data();
  a.y = y.empty() ? nullptr : y.data();
  a.scale = c.scale ? scale.data() : nullptr;
  a.bias = c.bias ? bias.data() : nullptr;
  a.relu = c.relu;
  a.m0 = c.m0;
  a.m1 = c.m1;
  kern.fn(a);
  for (int n = 0; n < c.N; ++n) {
    for (int m = 0; m < c.M; ++m) {
      const float got = y[size_t(n) * c.M + m];
      if (m < c.m0 || m >= c.m1) {
        ASSERT_EQ(got, kUntouched) << "row " << m << " outside the range was written, n=" << n;
        continue;
      }
      double dot = 0.0, mag = 0.0;
      for (int k = 0; k < c.K; ++k) {
        const double t = double(dense_weight(p.code(m, k), c.bits)) * x[size_t(n) * c.K + k];
        dot += t;
        mag += std::fabs(t);
      }
      const double s = c.scale ? scale[m] : 1.0, b = c.bias ? bias[m] : 0.0;
      double ref = dot * s + b;
      if (c.relu && ref < 0) ref = 0;
      // The kernels sum in float in their own order; the epilogue adds two roundings.
      const double tol = 1e-5 * (mag * std::fabs(s) + std::fabs(b)) + 1e-30;
      ASSERT_NEAR(got, ref, tol) << "m=" << m << " n=" << n;
    }
  }
}

TEST(MatvecLayout, PackRoundTripAndSize) {
  std::mt19937 rng(11);
  const int R = matvec_row_block();
  EXPECT_GE(R, 1);
  for (int bits = 2; bits <= 5; ++bits) {
    for (int M : {1, 3, 4, 5, 9}) {
      for (int K : {1, 7, 8, 47, 48, 49, 63, 64, 65, 80, 81, 128, 129, 300}) {
        SCOPED_TRACE("bits=" + std::to_string(bits) + " M=" + std::to_string(M) +
                     " K=" + std::to_string(K));
        const PackedCodes p = random_codes(rng, M, K, bits, 1);
        const std::vector<uint8_t> packed = to_matvec(p);
        // About b bits per weight: 32 / floor(32 / b) per weight plus row and k padding.
        const int W = 32 / bits, G = 8 * W;
        const size_t groups = size_t((K + G - 1) / G), blocks = size_t((M + R - 1) / R);
        EXPECT_EQ(packed.size(), blocks * size_t(R) * groups * 32);
        for (int m = 0; m < M; ++m) {
          for (int k = 0; k < K; ++k) {
            ASSERT_EQ(matvec_code_at(packed.data(), bits, M, K, m, k), p.code(m, k))
                << "m=" << m << " k=" << k;
          }
        }
      }
    }
  }
}

TEST(MatvecLayout, DocumentedBitPositions) {
  // Row 0, k = 8 * j (lane 0, slot j) of a single group: word 0 of the buffer.
  for (int bits = 2; bits <= 5; ++bits) {
    const int W = 32 / bits, K = 8 * W;
    for (int j = 0; j < W; ++j) {
      for (unsigned code = 0; code < (1u << bits); ++code) {
        std::vector<uint8_t> codes(size_t(K), 0);
        codes[size_t(8 * j)] = uint8_t(code);
        const PackedCodes p = pack(codes, 1, K, bits, 0);
        const std::vector<uint8_t> packed = to_matvec(p);
        const uint32_t word = uint32_t(packed[0]) | uint32_t(packed[1]) << 8 |
                              uint32_t(packed[2]) << 16 | uint32_t(packed[3]) << 24;
        const unsigned P = code & ((1u << (bits - 1)) - 1u), s = code >> (bits - 1);
        const uint32_t want = bits <= 3 ? uint32_t(code) << (bits * j)
                                        : (uint32_t(P) << ((bits - 1) * j)) | (uint32_t(s) << (31 - j));
        ASSERT_EQ(word, want) << "bits=" << bits << " j=" << j << " code=" << code;
        for (size_t i = 4; i < packed.size(); ++i) ASSERT_EQ(packed[i], 0) << "byte " << i;
      }
    }
  }
}

TEST(MatvecLayout, PanelsThenBlocksThenGroups) {
  // K spans 3 panels of 1920 (the last one short), M 2 blocks and a bit: each code lands at the
  // byte matvec.h gives for it.
  const int R = matvec_row_block(), KP = 1920;
  for (int bits = 2; bits <= 5; ++bits) {
    const int W = 32 / bits, G = 8 * W, K = 2 * KP + 2 * G + 3, M = 2 * R + 1;
    const int groups = (K + G - 1) / G, PG = KP / G, blocks = (M + R - 1) / R;
    for (const int m : {0, R + 1, M - 1}) {
      for (const int k : {0, G + 9, KP, KP + 8 * 2 + 5, 2 * KP + G + 1, K - 1}) {
        std::vector<uint8_t> codes(size_t(M) * K, 0);
        const uint8_t code = uint8_t((1u << bits) - 1u);  // every P bit and the sign set
        codes[size_t(m) * K + k] = code;
        const std::vector<uint8_t> packed = to_matvec(pack(codes, M, K, bits, 0));
        const int g = k / G, p = g / PG, gp = p < 2 ? PG : groups - 2 * PG;
        const size_t word = size_t(p) * blocks * PG * R * 32 + size_t(m / R) * gp * R * 32 +
                            (size_t(g % PG) * R + m % R) * 32 + size_t(k % 8) * 4;
        ASSERT_LT(word + 3, packed.size());
        ASSERT_NE(packed[word] | packed[word + 1] | packed[word + 2] | packed[word + 3], 0)
            << "bits=" << bits << " m=" << m << " k=" << k << ": word at " << word << " is 0";
        for (size_t i = 0; i < packed.size(); ++i) {
          if (i >= word && i < word + 4) continue;
          ASSERT_EQ(packed[i], 0) << "bits=" << bits << " m=" << m << " k=" << k << " byte " << i
                                  << " (expected only the word at " << word << ")";
        }
        ASSERT_EQ(matvec_code_at(packed.data(), bits, M, K, m, k), code);
      }
    }
  }
}

TEST(MatvecKernels, MatchDoubleReference) {
  std::mt19937 rng(5);
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    if (!k.supported()) continue;
    for (int bits = 2; bits <= 5; ++bits) {
      for (int M : {1, 3, 4, 7, 13}) {
        for (int K : {1, 5, 8, 47, 48, 64, 80, 127, 128, 129, 331}) {
          for (int N : {1, 2, 3, 4, 5, 8, 9}) {
            const bool ep = (M + K + N) % 2 == 0;
            check(k, {bits, M, K, N, ep, ep, ep && (K % 3 == 0), 0, M}, rng);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST(MatvecKernels, EpilogueCombinationsAndLargeK) {
  std::mt19937 rng(6);
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    if (!k.supported()) continue;
    for (int bits = 2; bits <= 5; ++bits) {
      for (int mask = 0; mask < 8; ++mask) {
        check(k, {bits, 6, 1000, 1 + mask % 3, bool(mask & 1), bool(mask & 2), bool(mask & 4), 0, 6},
              rng);
        if (HasFatalFailure()) return;
      }
      check(k, {bits, 4, 5000, 1, true, true, false, 0, 4}, rng);
      check(k, {bits, 5, 3001, 8, false, true, true, 0, 5}, rng);
      // More vectors than one batch sweep of the SIMD kernels (16).
      check(k, {bits, 13, 300, 17, true, true, true, 0, 13}, rng);
      check(k, {bits, 9, 2000, 35, false, false, false, 4, 9}, rng);
      // Panel edges: K = 1 panel exactly, 1 panel + 1, 2 panels - 1, 2 panels.
      for (int K : {1920, 1921, 3839, 3840}) {
        for (int N : {1, 2, 5}) check(k, {bits, 5, K, N, true, true, true, 0, 5}, rng);
      }
      if (HasFatalFailure()) return;
    }
  }
}

TEST(MatvecKernels, RowRangesLeaveOtherRowsAlone) {
  std::mt19937 rng(7);
  const int R = matvec_row_block();
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    if (!k.supported()) continue;
    for (int bits = 2; bits <= 5; ++bits) {
      const int M = 3 * R + 2;
      const int cuts[][2] = {{0, R}, {R, 2 * R}, {R, M}, {2 * R, 3 * R}, {3 * R, M}, {0, M}, {R, R}};
      for (const auto& cut : cuts) {
        for (int N : {1, 3, 8}) {
          check(k, {bits, M, 99, N, true, false, true, cut[0], cut[1]}, rng);
          check(k, {bits, M, 4000, N, false, true, false, cut[0], cut[1]}, rng);  // 3 panels
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(MatvecKernels, EmptyShapes) {
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    if (!k.supported()) continue;
    std::mt19937 rng(8);
    check(k, {3, 5, 0, 2, true, true, false, 0, 5}, rng);    // K = 0: y = bias
    check(k, {3, 0, 10, 2, false, false, false, 0, 0}, rng);  // no rows
    check(k, {3, 5, 10, 0, false, false, false, 0, 5}, rng);  // no vectors
  }
}

TEST(MatvecKernels, KernelsAgreeClosely) {
  // Same layout, same lane structure: all kernels within a few ulps of each other per output.
  std::mt19937 rng(9);
  const int M = 9, K = 777, N = 4, bits = 3;
  const PackedCodes p = random_codes(rng, M, K, bits, 0);
  const std::vector<uint8_t> packed = to_matvec(p);
  std::vector<float> x(size_t(N) * K);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x) v = u(rng);
  std::vector<float> ref;
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    if (!k.supported()) continue;
    std::vector<float> y(size_t(N) * M, kUntouched);
    k.fn({packed.data(), bits, M, K, N, x.data(), y.data(), nullptr, nullptr, false, 0, M});
    if (ref.empty()) {
      ref = y;
      continue;
    }
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-3) << k.name << " " << i;
  }
}

TEST(MatvecKernels, RejectBadArguments) {
  std::vector<uint8_t> packed(matvec_packed_bytes(8, 16, 3), 0);
  std::vector<float> x(16), y(8);
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    if (!k.supported()) continue;
    const MatvecArgs good{packed.data(), 3, 8, 16, 1, x.data(), y.data(), nullptr, nullptr, false, 0, 8};
    EXPECT_NO_THROW(k.fn(good));
    MatvecArgs a = good;
    a.bits = 6;
    EXPECT_THROW(k.fn(a), std::invalid_argument) << k.name;
    a = good;
    a.m0 = 2;  // not on a block boundary
    EXPECT_THROW(k.fn(a), std::invalid_argument) << k.name;
    a = good;
    a.m1 = 9;
    EXPECT_THROW(k.fn(a), std::invalid_argument) << k.name;
    a = good;
    a.m0 = 4;
    a.m1 = 0;
    EXPECT_THROW(k.fn(a), std::invalid_argument) << k.name;
    a = good;
    a.x = nullptr;
    EXPECT_THROW(k.fn(a), std::invalid_argument) << k.name;
    a = good;
    a.N = -1;
    EXPECT_THROW(k.fn(a), std::invalid_argument) << k.name;
  }
  EXPECT_THROW(matvec_packed_bytes(4, 4, 1), std::invalid_argument);
  std::vector<uint8_t> out(matvec_packed_bytes(2, 16, 3));
  EXPECT_THROW(matvec_pack(packed.data(), 2, 3, 2, 16, out.data()), std::invalid_argument);
}

TEST(MatvecRegistry, TableAndSelection) {
  std::set<std::string> names;
  for (const MatvecKernelInfo& k : all_matvec_kernels()) {
    EXPECT_TRUE(names.insert(k.name).second) << "duplicate " << k.name;
    EXPECT_NE(k.fn, nullptr);
    EXPECT_GT(std::string(k.doc).size(), 20u);
    if (k.supported()) {
      EXPECT_EQ(&select_matvec_kernel(k.name), &k);
    }
  }
  EXPECT_TRUE(names.count("f32_matvec_scalar"));
  EXPECT_TRUE(select_matvec_kernel().supported());
#if defined(__aarch64__)
  EXPECT_STREQ(select_matvec_kernel().name, "f32_matvec_neon");
#endif
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_STREQ(select_matvec_kernel().name, "f32_matvec_fma_avx2");
  }
#endif
  try {
    select_matvec_kernel("no_such_kernel");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("f32_matvec_scalar"), std::string::npos) << e.what();
  }
}

// The multiply-free choice is a supported multiply-free kernel (on x86: the exponent-add twins).
TEST(MatvecRegistry, MultiplyFreeChoice) {
  const MatvecKernelInfo* k = multiply_free_matvec_kernel();
  bool any = false;
  for (const MatvecKernelInfo& e : all_matvec_kernels()) any = any || (e.multiply_free && e.supported());
  ASSERT_EQ(k != nullptr, any);
  if (k) {
    EXPECT_TRUE(k->multiply_free);
    EXPECT_TRUE(k->supported());
  }
}

}  // namespace
}  // namespace ds::kernels::test
