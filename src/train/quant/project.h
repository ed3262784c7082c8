// Latents from float weights (--init-latents project): the initial code of every weight is the
// nearest power of two of the weight after one per-layer scale, and the latents are small
// (+-magnitude) so that training can still move each code with a few steps.
#pragma once

#include <torch/torch.h>

#include "train/quant/method.h"

namespace ds {

struct Projection {
  torch::Tensor latents;  // [latent_rows(spec), *w.shape]
  double scale = 1;       // w ~ scale * s * 2^P: the factor the layer's output shrinks by
};

// DenseShift: scale = max|w| / 2^K so the largest weight takes the top exponent K; each weight
// gets P = clamp(round(log2(|w| / scale)), 0, K) and the sign of w (+ for 0).
// Shift-with-zero: the same with K = 2^(b-1) - 2, and weights below scale / 2 (nearer 0 than 2^0)
// become zero. Latent values are +-magnitude: u = s * m, and v_k = +m exactly for the last P of
// v1..vK (P counts the trailing positive latents: Pk = (P(k-1) + 1) * b(vk)).
Projection project_to_latents(const torch::Tensor& w, const QuantSpec& spec, double magnitude = 1e-3);

}  // namespace ds
