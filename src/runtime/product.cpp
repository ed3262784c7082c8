// The weight product shared by conv and linear, and the epilogue after it.
#include <algorithm>

#include "runtime/layer.h"

namespace ds::rt {

void shape_error(const std::string& at, const std::string& problem) { throw core::FormatError(at + ": " + problem); }

void weight_product(const core::NodeDesc& n, int r0, int r1, const float* x, int N, float* y, const RunContext& ctx) {
  const int K = int(n.cols);
  if (n.wkind == core::WeightKind::kFloat32) {
    // Full-precision layers (stem, classifier) are a small part of the work: a plain loop,
    // k outside n so the inner loop streams rows of x and vectorizes.
    const float* W = reinterpret_cast<const float*>(n.wdata);
    for (int r = r0; r < r1; ++r) {
      float* yr = y + size_t(r - r0) * N;
      std::fill(yr, yr + N, 0.f);
      const float* wr = W + size_t(r) * K;
      for (int k = 0; k < K; ++k) {
        const float w = wr[k];
        const float* xk = x + size_t(k) * N;
        for (int j = 0; j < N; ++j) yr[j] += w * xk[j];
      }
    }
    return;
  }
  kernels::GemmArgs a;
  a.codes = n.wdata + size_t(r0) * n.row_bytes;
  a.row_bytes = n.row_bytes;
  a.bits = int(n.bits);
  a.M = r1 - r0, a.K = K, a.N = N;
  a.x = x, a.y = y;
  (n.wkind == core::WeightKind::kShiftWithZero ? ctx.zero_kernel : ctx.kernel)->fn(a);
}

void epilogue(const core::NodeDesc& n, int r0, int r1, int N, float* y, const float* residual, bool relu) {
  for (int r = r0; r < r1; ++r) {
    const float s = n.scale[r], b = n.bias[r];
    float* yr = y + size_t(r - r0) * N;
    const float* res = residual ? residual + size_t(r - r0) * N : nullptr;
    for (int j = 0; j < N; ++j) {
      float v = yr[j] * s + b;
      if (res) v += res[j];
      yr[j] = relu ? std::max(v, 0.f) : v;
    }
  }
}

}  // namespace ds::rt
