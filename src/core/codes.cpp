#include "core/codes.h"

#include <cmath>
#include <iterator>
#include <stdexcept>
#include <string>

namespace ds::core {

namespace {

// Packing is not on a hot path, so a wrong width is reported rather than left to corrupt memory.
void check_bits(int bits, const char* fn) {
  if (bits < kMinBits || bits > kMaxBits) {
    throw std::invalid_argument(std::string(fn) + ": code width " + std::to_string(bits) +
                                " is outside " + std::to_string(kMinBits) + ".." +
                                std::to_string(kMaxBits));
  }
}

// Whole groups of 8 codes (exactly B bytes each), B known at compile time so the shifts are
// constants; returns the number of codes done. Model loading packs and unpacks every weight.
template <int B>
size_t pack_groups(const uint8_t* codes, size_t n, uint8_t* out) {
  constexpr unsigned kMask = (1u << B) - 1u;
  size_t i = 0;
  for (; i + 8 <= n; i += 8, out += B) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) v |= uint64_t(codes[i + size_t(j)] & kMask) << (j * B);
    for (int b = 0; b < B; ++b) out[b] = uint8_t(v >> (8 * b));
  }
  return i;
}
template <int B>
size_t unpack_groups(const uint8_t* packed, size_t n, uint8_t* out) {
  constexpr uint64_t kMask = (1u << B) - 1u;
  size_t i = 0;
  for (; i + 8 <= n; i += 8, packed += B) {
    uint64_t v = 0;
    for (int b = 0; b < B; ++b) v |= uint64_t(packed[b]) << (8 * b);
    for (int j = 0; j < 8; ++j) out[i + size_t(j)] = uint8_t((v >> (j * B)) & kMask);
  }
  return i;
}
// One entry per width, kMinBits first.
struct GroupCoder {
  size_t (*pack)(const uint8_t* codes, size_t n, uint8_t* out);
  size_t (*unpack)(const uint8_t* packed, size_t n, uint8_t* out);
};
constexpr GroupCoder kGroupCoders[] = {
    {pack_groups<2>, unpack_groups<2>},
    {pack_groups<3>, unpack_groups<3>},
    {pack_groups<4>, unpack_groups<4>},
    {pack_groups<5>, unpack_groups<5>},
};
static_assert(std::size(kGroupCoders) == kMaxBits - kMinBits + 1, "one group coder per width");
const GroupCoder& group_coder(int bits) { return kGroupCoders[bits - kMinBits]; }

}  // namespace

float decode_code(uint8_t code, int bits) {
  // ldexp is exact for these small powers of two; no table needed.
  const float magnitude = std::ldexp(1.0f, code_exponent(code, bits));
  return code_negative(code, bits) ? -magnitude : magnitude;
}

float decode_zero_code(uint8_t code, int bits) {
  const int e = code_exponent(code, bits);
  // Both signs of E = 0 mean +0: a "negative zero" weight must not leak a -0.0f into sums.
  if (e == 0) return 0.0f;
  const float magnitude = std::ldexp(1.0f, e - 1);
  return code_negative(code, bits) ? -magnitude : magnitude;
}

void pack_codes(const uint8_t* codes, size_t n, int bits, uint8_t* out) {
  check_bits(bits, "pack_codes");
  const unsigned mask = (1u << bits) - 1u;
  // Bit accumulator: codes go in at the top of the pending bits, whole bytes leave at the bottom.
  // At most 7 + 5 bits are pending, so 32 bits never overflow.
  uint32_t acc = 0;
  int pending = 0;
  // Eight codes fill exactly `bits` bytes: whole groups first (code by code this was a seventh of
  // loading ResNet-18), then the rest from a byte boundary, as from the beginning.
  size_t i = group_coder(bits).pack(codes, n, out);
  size_t o = i / 8 * size_t(bits);
  for (; i < n; ++i) {
    // Masking keeps a stray high bit in a caller's code from spilling into its neighbour.
    acc |= uint32_t(codes[i] & mask) << pending;
    pending += bits;
    while (pending >= 8) {
      out[o++] = uint8_t(acc);
      acc >>= 8;
      pending -= 8;
    }
  }
  // The last partial byte: its high (padding) bits are zero because acc only held code bits.
  if (pending > 0) out[o++] = uint8_t(acc);
}

void unpack_codes(const uint8_t* packed, size_t n, int bits, uint8_t* out) {
  check_bits(bits, "unpack_codes");
  const uint32_t mask = (1u << bits) - 1u;
  uint32_t acc = 0;
  int available = 0;
  size_t i = group_coder(bits).unpack(packed, n, out);  // whole groups, as in pack_codes
  size_t in = i / 8 * size_t(bits);
  for (; i < n; ++i) {
    // Refill byte by byte only when needed, so no byte past packed_bytes(n, bits) is read.
    if (available < bits) {
      acc |= uint32_t(packed[in++]) << available;
      available += 8;
    }
    out[i] = uint8_t(acc & mask);
    acc >>= bits;
    available -= bits;
  }
}

uint8_t packed_code_at(const uint8_t* packed, size_t i, int bits) {
  // Unchecked (kernels may call it per weight); bits must be in kMinBits..kMaxBits.
  const size_t bit = i * size_t(bits);
  const size_t byte = bit / 8;
  const unsigned shift = unsigned(bit % 8);
  uint32_t v = packed[byte];
  // A code straddles two bytes only when it runs past bit 7; reading the second byte only then
  // keeps the last code of a row from touching the byte after the row.
  if (shift + unsigned(bits) > 8) v |= uint32_t(packed[byte + 1]) << 8;
  return uint8_t((v >> shift) & ((1u << bits) - 1u));
}

}  // namespace ds::core
