#include "train/quant/latent_math.h"

#include <cmath>

namespace ds::latent {
namespace {

constexpr int kMaxK = 15;  // 5 bits

// Prefix exponents P0 = 0, P1..PK of element i; returns PK.
inline int prefix_exponents(const float* lat, int64_t n, Layout L, int64_t i, int* Pk) {
  Pk[0] = 0;
  for (int k = 1; k <= L.K; ++k) Pk[k] = lat[L.v_row(k) * n + i] > 0.f ? Pk[k - 1] + 1 : 0;
  return Pk[L.K];
}

inline float sign_of(const float* lat, int64_t i) { return lat[i] >= 0.f ? 1.f : -1.f; }
inline float gate_of(const float* lat, int64_t n, Layout L, int64_t i) {
  return L.has_zero ? (lat[n + i] > 0.f ? 1.f : 0.f) : 1.f;
}

}  // namespace

void forward(const float* lat, int64_t n, Layout L, int64_t begin, int64_t end, float* w) {
  int Pk[kMaxK + 1];
  for (int64_t i = begin; i < end; ++i) {
    int P = prefix_exponents(lat, n, L, i, Pk);
    w[i] = sign_of(lat, i) * gate_of(lat, n, L, i) * float(1 << P);
  }
}

void backward(const float* lat, int64_t n, Layout L, const float* g, int64_t begin, int64_t end,
              float* glat) {
  int Pk[kMaxK + 1];
  for (int64_t i = begin; i < end; ++i) {
    int P = prefix_exponents(lat, n, L, i, Pk);
    float s = sign_of(lat, i), m = gate_of(lat, n, L, i);
    float root = std::sqrt(float(P + 1));
    float G = g[i];
    glat[i] = G * m * root;                        // dL/du
    if (L.has_zero) glat[n + i] = G * s * root;    // dL/dz
    float dP = G * s * m / (2.f * root);           // dL/dP
    // dP/dvk = (P(k-1) + 1) * prod_{j>k} b(vj): walk k downwards keeping the suffix product.
    float suffix = 1.f;
    for (int k = L.K; k >= 1; --k) {
      glat[L.v_row(k) * n + i] = dP * float(Pk[k - 1] + 1) * suffix;
      suffix *= lat[L.v_row(k) * n + i] > 0.f ? 1.f : 0.f;
    }
  }
}

void codes(const float* lat, int64_t n, Layout L, int64_t begin, int64_t end, int8_t* code) {
  int Pk[kMaxK + 1];
  for (int64_t i = begin; i < end; ++i) {
    int P = prefix_exponents(lat, n, L, i, Pk);
    code[i] = int8_t(sign_of(lat, i) * gate_of(lat, n, L, i) * float(P + 1));
  }
}

}  // namespace ds::latent
