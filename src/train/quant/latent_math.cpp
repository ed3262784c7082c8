#include "train/quant/latent_math.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ds::latent {
namespace {

// The loops below are written without data-dependent branches (selects instead of ifs) and
// with K known at compile time: random latents make every `if (v > 0)` a coin flip, and
// mispredictions cost more than the arithmetic. With constant K the compiler keeps the prefix
// exponents in registers and vectorizes across elements.

template <int K, bool Z>
struct Kernel {
  static constexpr int v_row(int k) { return (Z ? 2 : 1) + (k - 1); }

  static void forward(const float* lat, int64_t n, int64_t begin, int64_t end, float* w) {
    for (int64_t i = begin; i < end; ++i) {
      int P = 0;
      for (int k = 1; k <= K; ++k) P = lat[v_row(k) * n + i] > 0.f ? P + 1 : 0;
      float mag = float(1 << P);
      if constexpr (Z) mag = lat[n + i] > 0.f ? mag : 0.f;
      w[i] = lat[i] >= 0.f ? mag : -mag;
    }
  }

  static void backward(const float* lat, int64_t n, const float* g, int64_t begin, int64_t end, float* glat) {
    for (int64_t i = begin; i < end; ++i) {
      float Pk[K + 1];
      Pk[0] = 0.f;
      for (int k = 1; k <= K; ++k) Pk[k] = lat[v_row(k) * n + i] > 0.f ? Pk[k - 1] + 1.f : 0.f;
      const float s = lat[i] >= 0.f ? 1.f : -1.f;
      const float m = Z ? (lat[n + i] > 0.f ? 1.f : 0.f) : 1.f;
      const float root = std::sqrt(Pk[K] + 1.f);
      const float G = g[i];
      glat[i] = G * m * root;                   // dL/du
      if constexpr (Z) glat[n + i] = G * s * root;  // dL/dz
      const float dP = G * s * m / (2.f * root);    // dL/dP
      // dP/dvk = (P(k-1) + 1) * prod_{j>k} b(vj): walk k downwards keeping the suffix product.
      float suffix = 1.f;
      for (int k = K; k >= 1; --k) {
        glat[v_row(k) * n + i] = dP * (Pk[k - 1] + 1.f) * suffix;
        suffix = lat[v_row(k) * n + i] > 0.f ? suffix : 0.f;
      }
    }
  }

  static void codes(const float* lat, int64_t n, int64_t begin, int64_t end, int8_t* code) {
    for (int64_t i = begin; i < end; ++i) {
      int P = 0;
      for (int k = 1; k <= K; ++k) P = lat[v_row(k) * n + i] > 0.f ? P + 1 : 0;
      int mag = P + 1;
      if constexpr (Z) mag = lat[n + i] > 0.f ? mag : 0;
      code[i] = int8_t(lat[i] >= 0.f ? mag : -mag);
    }
  }
};

// Calls f(Kernel<K, Z>{}) for the layouts that 2..5 bits produce.
template <class F>
void dispatch(Layout L, F&& f) {
  if (!L.has_zero) {
    switch (L.K) {
      case 1: return f(Kernel<1, false>{});
      case 3: return f(Kernel<3, false>{});
      case 7: return f(Kernel<7, false>{});
      case 15: return f(Kernel<15, false>{});
    }
  } else {
    switch (L.K) {
      case 0: return f(Kernel<0, true>{});
      case 2: return f(Kernel<2, true>{});
      case 6: return f(Kernel<6, true>{});
      case 14: return f(Kernel<14, true>{});
    }
  }
  throw std::invalid_argument("no latent kernel for K = " + std::to_string(L.K));
}

}  // namespace

void forward(const float* lat, int64_t n, Layout L, int64_t begin, int64_t end, float* w) {
  dispatch(L, [&](auto k) { decltype(k)::forward(lat, n, begin, end, w); });
}

void backward(const float* lat, int64_t n, Layout L, const float* g, int64_t begin, int64_t end, float* glat) {
  dispatch(L, [&](auto k) { decltype(k)::backward(lat, n, g, begin, end, glat); });
}

void codes(const float* lat, int64_t n, Layout L, int64_t begin, int64_t end, int8_t* code) {
  dispatch(L, [&](auto k) { decltype(k)::codes(lat, n, begin, end, code); });
}

}  // namespace ds::latent
