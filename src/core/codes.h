// DenseShift weight codes and their tight b-bit packing (DENSESHIFT.md sections 1 and 6).
//
// A b-bit DenseShift code (b = 2..5) is  sign << (b-1) | P :
//   bit b-1      sign, 1 = negative
//   bits 0..b-2  exponent index P in 0 .. 2^(b-1)-1
// and stands for the weight (-1)^sign * 2^P. All 2^b codes are weights; none is zero.
//
// The zero-weight baseline ("shift with zero", {0, ±2^p}) uses the same b bits as
//   sign << (b-1) | E  with E = 0 meaning the weight 0 and E >= 1 meaning ±2^(E-1),
// so its largest exponent is one less than DenseShift's at the same b.
//
// Packing: code i of a row occupies bits [i*b, i*b + b) of a little-endian bit stream
// (bit j of the stream is bit j%8 of byte j/8). Rows start on a byte boundary.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ds::core {

constexpr int kMinBits = 2, kMaxBits = 5;

constexpr int max_exponent(int bits) { return (1 << (bits - 1)) - 1; }
constexpr uint8_t encode_code(bool negative, int P, int bits) {
  return uint8_t((negative ? 1u : 0u) << (bits - 1) | unsigned(P));
}
constexpr bool code_negative(uint8_t code, int bits) { return (code >> (bits - 1)) & 1u; }
constexpr int code_exponent(uint8_t code, int bits) { return code & ((1u << (bits - 1)) - 1u); }
// The weight a DenseShift code stands for.
float decode_code(uint8_t code, int bits);
// The weight a shift-with-zero code stands for.
float decode_zero_code(uint8_t code, int bits);

// Bytes that n packed b-bit codes take.
constexpr size_t packed_bytes(size_t n, int bits) { return (n * size_t(bits) + 7) / 8; }
// Packs n codes (each < 2^bits) into packed_bytes(n, bits) bytes; padding bits are zero.
void pack_codes(const uint8_t* codes, size_t n, int bits, uint8_t* out);
void unpack_codes(const uint8_t* packed, size_t n, int bits, uint8_t* out);
// Code i of a packed row.
uint8_t packed_code_at(const uint8_t* packed, size_t i, int bits);

}  // namespace ds::core
