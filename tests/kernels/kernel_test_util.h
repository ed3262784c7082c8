// Helpers for the kernel tests: packing, half-precision conversions and plain float references,
// written here independently of src/core and src/kernels so that they can check those.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace ds::kernels::test {

inline uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Equal bit patterns, or both NaN (NaN payloads and signs are not specified anywhere here).
inline bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || f2u(a) == f2u(b);
}

// The kernel of that name if this binary has it and this CPU runs it, else nullptr.
inline const KernelInfo* find_supported(const std::string& name) {
  for (const KernelInfo& k : all_kernels()) {
    if (name == k.name) return k.supported() ? &k : nullptr;
  }
  return nullptr;
}

// The kernels this CPU runs that `keep` accepts, in table order.
template <class Keep>
std::vector<const KernelInfo*> supported_kernels(Keep keep) {
  std::vector<const KernelInfo*> ks;
  for (const KernelInfo& k : all_kernels())
    if (k.supported() && keep(k)) ks.push_back(&k);
  return ks;
}

// A code matrix packed as core/codes.h specifies: LSB-first bit stream per row, rows byte
// aligned, `row_bytes` apart. Padding bits and bytes are set to ones: kernels must ignore them.
struct PackedCodes {
  int bits = 3, M = 0, K = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> codes;   // M x K, unpacked, for the references
  std::vector<uint8_t> packed;  // exactly M * row_bytes bytes
  uint8_t code(int m, int k) const { return codes[size_t(m) * K + k]; }
};

inline PackedCodes pack(const std::vector<uint8_t>& codes, int M, int K, int bits,
                        size_t extra_row_bytes) {
  PackedCodes p;
  p.bits = bits;
  p.M = M;
  p.K = K;
  p.codes = codes;
  const size_t used_bits = size_t(K) * size_t(bits);
  p.row_bytes = (used_bits + 7) / 8 + extra_row_bytes;
  p.packed.assign(size_t(M) * p.row_bytes, 0xff);
  for (int m = 0; m < M; ++m) {
    uint8_t* row = p.packed.data() + size_t(m) * p.row_bytes;
    for (size_t b = 0; b < used_bits; ++b) row[b / 8] &= uint8_t(~(1u << (b % 8)));
    for (int k = 0; k < K; ++k) {
      for (int j = 0; j < bits; ++j) {
        const size_t b = size_t(k) * bits + j;
        if ((codes[size_t(m) * K + k] >> j) & 1u) row[b / 8] |= uint8_t(1u << (b % 8));
      }
    }
  }
  return p;
}

inline PackedCodes random_codes(std::mt19937& rng, int M, int K, int bits, size_t extra) {
  std::vector<uint8_t> c(size_t(M) * K);
  std::uniform_int_distribution<int> d(0, (1 << bits) - 1);
  for (auto& v : c) v = uint8_t(d(rng));
  return pack(c, M, K, bits, extra);
}

inline GemmArgs args_for(const PackedCodes& p, int N, const float* x, float* y) {
  GemmArgs a;
  a.codes = p.packed.empty() ? nullptr : p.packed.data();
  a.row_bytes = p.row_bytes;
  a.bits = p.bits;
  a.M = p.M;
  a.K = p.K;
  a.N = N;
  a.x = x;
  a.y = y;
  return a;
}

// The weight a DenseShift code stands for: (-1)^s * 2^P.
inline float dense_weight(uint8_t code, int bits) {
  const float mag = std::ldexp(1.0f, code & ((1 << (bits - 1)) - 1));
  return (code >> (bits - 1)) & 1 ? -mag : mag;
}
// The weight a shift-with-zero code stands for: 0 for E = 0, else (-1)^s * 2^(E-1).
inline float zero_weight(uint8_t code, int bits) {
  const int e = code & ((1 << (bits - 1)) - 1);
  if (e == 0) return 0.0f;
  const float mag = std::ldexp(1.0f, e - 1);
  return (code >> (bits - 1)) & 1 ? -mag : mag;
}

// y = W x with a plain float multiply-add loop, k ascending: what the exact kernels must equal.
template <class WeightOf>
std::vector<float> plain_gemm(const PackedCodes& p, int N, const std::vector<float>& x,
                              WeightOf weight_of) {
  std::vector<float> y(size_t(p.M) * N);
  for (int m = 0; m < p.M; ++m) {
    for (int n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int k = 0; k < p.K; ++k) {
        const float prod = weight_of(p.code(m, k), p.bits) * x[size_t(k) * N + n];
        acc += prod;
      }
      y[size_t(m) * N + n] = acc;
    }
  }
  return y;
}

inline std::vector<float> run(const KernelInfo& k, const PackedCodes& p, int N,
                              const std::vector<float>& x) {
  std::vector<float> y(size_t(p.M) * N, std::nanf(""));  // y must be overwritten
  k.fn(args_for(p, N, x.empty() ? nullptr : x.data(), y.empty() ? nullptr : y.data()));
  return y;
}

// FP16 -> FP32 (exact).
inline float half_to_float(uint16_t h) {
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  const int e = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (e == 0) return sign * std::ldexp(float(man), -24);
  if (e == 31) return man ? std::nanf("") : sign * INFINITY;
  return sign * std::ldexp(float(1024 + man), e - 25);
}

// FP32 -> FP16, round to nearest even (the default rounding mode is assumed), overflow to inf.
inline uint16_t float_to_half(float f) {
  const uint16_t sign = (f2u(f) >> 16) & 0x8000;
  if (std::isnan(f)) return uint16_t(sign | 0x7e00);
  const float a = std::fabs(f);
  if (a >= 65520.0f) return uint16_t(sign | 0x7c00);  // at or above the midpoint past 65504
  if (a < std::ldexp(1.0f, -14)) {
    // Subnormal range: the pattern is |f| / 2^-24 rounded, up to 1024 (= the smallest normal).
    return uint16_t(sign | unsigned(std::nearbyint(std::ldexp(a, 24))));
  }
  int ex;
  std::frexp(a, &ex);  // a = m * 2^ex, m in [0.5, 1): binade exponent ex - 1
  const int E = ex - 1;
  const unsigned q = unsigned(std::nearbyint(std::ldexp(a, 10 - E)));  // 1024..2048
  // A round-up to 2048 carries into the exponent field, which is the right encoding.
  return uint16_t(sign | ((unsigned(E + 15) << 10) + (q - 1024)));
}

}  // namespace ds::kernels::test
