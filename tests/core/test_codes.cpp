// Codes and b-bit packing: round trips, exact byte layout, padding, and the decoded weights.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "core/codes.h"

using namespace ds::core;

namespace {

std::vector<uint8_t> random_codes(size_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, (1 << bits) - 1);
  std::vector<uint8_t> c(n);
  for (auto& x : c) x = uint8_t(d(rng));
  return c;
}

const size_t kLengths[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 1000, 1001};

}  // namespace

TEST(Codes, PackedBytes) {
  EXPECT_EQ(packed_bytes(0, 2), 0u);
  EXPECT_EQ(packed_bytes(1, 2), 1u);
  EXPECT_EQ(packed_bytes(4, 2), 1u);
  EXPECT_EQ(packed_bytes(5, 2), 2u);
  EXPECT_EQ(packed_bytes(3, 3), 2u);
  EXPECT_EQ(packed_bytes(8, 3), 3u);
  EXPECT_EQ(packed_bytes(8, 5), 5u);
  EXPECT_EQ(packed_bytes(9, 5), 6u);
  EXPECT_EQ(packed_bytes(1000, 5), 625u);
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    for (size_t n : kLengths) EXPECT_EQ(packed_bytes(n, b), (n * b + 7) / 8) << n << " " << b;
  }
}

TEST(Codes, RoundTripAllWidthsAndLengths) {
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    for (size_t n : kLengths) {
      const auto codes = random_codes(n, b, uint32_t(1000 * b + n));
      const size_t nb = packed_bytes(n, b);
      // Guard bytes after the packed row: pack must write exactly packed_bytes bytes.
      std::vector<uint8_t> packed(nb + 8, 0xA5);
      pack_codes(codes.data(), n, b, packed.data());
      for (size_t i = nb; i < packed.size(); ++i) ASSERT_EQ(packed[i], 0xA5) << "b=" << b << " n=" << n;
      // Exact-size input: an overread shows up under AddressSanitizer.
      std::vector<uint8_t> exact(packed.begin(), packed.begin() + nb);
      std::vector<uint8_t> out(n + 4, 0x5A);
      unpack_codes(exact.data(), n, b, out.data());
      for (size_t i = n; i < out.size(); ++i) ASSERT_EQ(out[i], 0x5A);
      out.resize(n);
      ASSERT_EQ(out, codes) << "b=" << b << " n=" << n;
    }
  }
}

TEST(Codes, BitStreamLayoutMatchesDefinition) {
  // Independent reference: code i's bit k is stream bit i*b + k, stream bit j is bit j%8 of byte j/8.
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    const size_t n = 37;
    const auto codes = random_codes(n, b, uint32_t(b));
    std::vector<uint8_t> expect(packed_bytes(n, b), 0);
    for (size_t i = 0; i < n; ++i) {
      for (int k = 0; k < b; ++k) {
        if ((codes[i] >> k) & 1) {
          const size_t j = i * b + k;
          expect[j / 8] |= uint8_t(1u << (j % 8));
        }
      }
    }
    std::vector<uint8_t> packed(expect.size());
    pack_codes(codes.data(), n, b, packed.data());
    EXPECT_EQ(packed, expect) << "b=" << b;
  }
}

TEST(Codes, PaddingBitsAreZero) {
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    for (size_t n : kLengths) {
      if (n == 0) continue;
      // All-ones codes and an all-ones destination: any padding bit left set would show.
      std::vector<uint8_t> codes(n, uint8_t((1 << b) - 1));
      const size_t nb = packed_bytes(n, b);
      std::vector<uint8_t> packed(nb, 0xFF);
      pack_codes(codes.data(), n, b, packed.data());
      const size_t used = (n * b) % 8;  // bits used in the last byte, 0 = all 8
      const uint8_t expect_last = used == 0 ? 0xFF : uint8_t((1u << used) - 1);
      EXPECT_EQ(packed[nb - 1], expect_last) << "b=" << b << " n=" << n;
      for (size_t i = 0; i + 1 < nb; ++i) ASSERT_EQ(packed[i], 0xFF);
    }
  }
}

TEST(Codes, WorkedExampleFromFormatDoc) {
  // docs/format.md: 3-bit codes for +1, -8, +4 pack into the bytes B8 00.
  const uint8_t c[3] = {encode_code(false, 0, 3), encode_code(true, 3, 3), encode_code(false, 2, 3)};
  EXPECT_EQ(c[0], 0b000);
  EXPECT_EQ(c[1], 0b111);
  EXPECT_EQ(c[2], 0b010);
  EXPECT_EQ(decode_code(c[0], 3), 1.0f);
  EXPECT_EQ(decode_code(c[1], 3), -8.0f);
  EXPECT_EQ(decode_code(c[2], 3), 4.0f);
  uint8_t packed[2] = {0xFF, 0xFF};
  pack_codes(c, 3, 3, packed);
  EXPECT_EQ(packed[0], 0xB8);
  EXPECT_EQ(packed[1], 0x00);
  // The second example, a code that straddles two bytes: 5-bit codes for -2 and -16 give 91 02.
  const uint8_t d[2] = {encode_code(true, 1, 5), encode_code(true, 4, 5)};
  EXPECT_EQ(d[0], 0b10001);
  EXPECT_EQ(d[1], 0b10100);
  EXPECT_EQ(decode_code(d[0], 5), -2.0f);
  EXPECT_EQ(decode_code(d[1], 5), -16.0f);
  uint8_t packed5[2] = {0xFF, 0xFF};
  pack_codes(d, 2, 5, packed5);
  EXPECT_EQ(packed5[0], 0x91);
  EXPECT_EQ(packed5[1], 0x02);
  EXPECT_EQ(packed_code_at(packed5, 1, 5), d[1]);
}

TEST(Codes, PackedCodeAtMatchesUnpack) {
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    for (size_t n : kLengths) {
      const auto codes = random_codes(n, b, uint32_t(77 * b + n));
      // Exact size: reading the last code must not touch the byte after the row (ASan).
      std::vector<uint8_t> packed(packed_bytes(n, b));
      pack_codes(codes.data(), n, b, packed.data());
      std::vector<uint8_t> out(n);
      unpack_codes(packed.data(), n, b, out.data());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(packed_code_at(packed.data(), i, b), out[i]) << "b=" << b << " i=" << i;
        ASSERT_EQ(packed_code_at(packed.data(), i, b), codes[i]);
      }
    }
  }
}

TEST(Codes, EncodeDecodeFields) {
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    for (int neg = 0; neg <= 1; ++neg) {
      for (int p = 0; p <= max_exponent(b); ++p) {
        const uint8_t c = encode_code(neg != 0, p, b);
        EXPECT_LT(c, 1 << b);
        EXPECT_EQ(code_negative(c, b), neg != 0);
        EXPECT_EQ(code_exponent(c, b), p);
      }
    }
  }
  EXPECT_EQ(max_exponent(2), 1);
  EXPECT_EQ(max_exponent(5), 15);
}

TEST(Codes, DecodeCodeIsSignedPowerOfTwoNeverZero) {
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    std::set<float> values;
    for (int c = 0; c < (1 << b); ++c) {
      const float w = decode_code(uint8_t(c), b);
      const int p = c & ((1 << (b - 1)) - 1);
      const bool neg = (c >> (b - 1)) & 1;
      EXPECT_NE(w, 0.0f);
      EXPECT_EQ(w, (neg ? -1.0f : 1.0f) * float(1u << p)) << "b=" << b << " code=" << c;
      values.insert(w);
    }
    EXPECT_EQ(values.size(), size_t(1) << b) << "every code is a distinct weight";
    EXPECT_EQ(*values.rbegin(), float(1u << max_exponent(b)));
    EXPECT_EQ(*values.begin(), -float(1u << max_exponent(b)));
  }
}

TEST(Codes, DecodeZeroCode) {
  for (int b = kMinBits; b <= kMaxBits; ++b) {
    int zeros = 0;
    for (int c = 0; c < (1 << b); ++c) {
      const float w = decode_zero_code(uint8_t(c), b);
      const int e = c & ((1 << (b - 1)) - 1);
      const bool neg = (c >> (b - 1)) & 1;
      if (e == 0) {
        EXPECT_EQ(w, 0.0f) << "b=" << b << " code=" << c;
        EXPECT_FALSE(std::signbit(w)) << "no negative zero";
        ++zeros;
      } else {
        EXPECT_EQ(w, (neg ? -1.0f : 1.0f) * float(1u << (e - 1))) << "b=" << b << " code=" << c;
      }
    }
    EXPECT_EQ(zeros, 2);  // E = 0 with either sign
    // One exponent less than DenseShift at the same width.
    EXPECT_EQ(decode_zero_code(uint8_t((1 << (b - 1)) - 1), b), float(1u << (max_exponent(b) - 1)));
  }
}

TEST(Codes, BadWidthIsRefused) {
  uint8_t c[1] = {0}, out[4] = {};
  EXPECT_THROW(pack_codes(c, 1, 1, out), std::invalid_argument);
  EXPECT_THROW(pack_codes(c, 1, 6, out), std::invalid_argument);
  EXPECT_THROW(unpack_codes(out, 1, 0, c), std::invalid_argument);
  EXPECT_THROW(unpack_codes(out, 1, 8, c), std::invalid_argument);
}
