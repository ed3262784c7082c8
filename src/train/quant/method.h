// Quantization methods the trainer offers, one flag apart (DENSESHIFT.md sections 1, 2, 8).
#pragma once

#include <string>

namespace ds {

enum class Method {
  kFp32,           // full precision, the reference
  kDenseShift,     // zero-free {±2^p}, p in 0..2^(b-1)-1, sign-scale latents
  kDeepShiftQ,     // sign(w) * 2^round(log2|w|), exponent clipped to 2^(b-1) values, STE
  kShiftWithZero,  // {0, ±2^p}, p in 0..2^(b-1)-2, zero chosen by its own latent (S3-like)
};

struct QuantSpec {
  Method method = Method::kFp32;
  int bits = 3;
  bool operator==(const QuantSpec& o) const {
    return method == o.method && (method == Method::kFp32 || bits == o.bits);
  }
};

const char* method_name(Method m);
// Parses "fp32", "denseshift", "deepshift-q", "shift-with-zero"; throws std::invalid_argument.
Method parse_method(const std::string& s);
// Parses "denseshift:3", "fp32" (bits default 3); validates bits in 2..5.
QuantSpec parse_spec(const std::string& s);
std::string spec_name(const QuantSpec& q);  // "denseshift:3", "fp32"

// Number of exponent latents: K = 2^(b-1) - 1 for DenseShift (all codes are nonzero),
// one fewer for shift-with-zero (one code is spent on zero; the zero has its own latent).
int exponent_latents(const QuantSpec& q);
// Rows of the latent tensor [rows, *weight_shape]: u, (z,) v1..vK. 0 for methods without latents.
int latent_rows(const QuantSpec& q);
// Largest exponent index a weight can take (P in 0..max) for the latent methods.
int max_exponent(const QuantSpec& q);

}  // namespace ds
