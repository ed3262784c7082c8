// The sign-scale decomposition of DENSESHIFT.md section 2 on plain float arrays.
//
// Latents of one weight tensor with n elements are stored as rows of n floats:
//   row 0      u   sign latent          s = sg(u) = u >= 0 ? +1 : -1
//   row 1      z   (shift-with-zero only) nonzero gate  m = b(z) = z > 0
//   next K     v1..vK exponent latents  P1 = b(v1), Pk = (P(k-1) + 1) * b(vk), P = PK
// Forward value  W = s * m * 2^P                  (m = 1 for DenseShift)
// Backward       through W_bwd = s * m * sqrt(P + 1) with identity STE for b and sg.
// This file is libtorch-free so the trainer's fused op and the tests share one definition.
#pragma once

#include <cstdint>

namespace ds::latent {

struct Layout {
  int K = 3;              // exponent latents
  bool has_zero = false;  // shift-with-zero: a gate row after u
  int rows() const { return 1 + (has_zero ? 1 : 0) + K; }
  int v_row(int k) const { return (has_zero ? 2 : 1) + (k - 1); }  // k = 1..K
};

// Writes W for elements [begin, end) of n.
void forward(const float* lat, int64_t n, Layout L, int64_t begin, int64_t end, float* w);
// Writes dL/dlatents (rows x n) for elements [begin, end) given G = dL/dW.
void backward(const float* lat, int64_t n, Layout L, const float* g, int64_t begin, int64_t end,
              float* glat);
// Writes the discrete code s * m * (P + 1) (0 for a zero weight) for the freezing metric.
void codes(const float* lat, int64_t n, Layout L, int64_t begin, int64_t end, int8_t* code);

}  // namespace ds::latent
