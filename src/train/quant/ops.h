// Differentiable weight quantizers on tensors (CPU and CUDA).
#pragma once

#include <torch/torch.h>

#include "train/quant/latent_math.h"

namespace ds {

// The fused sign-scale op: one autograd node from latents [rows, *shape] to W [*shape].
// Forward W = s*m*2^P; backward the closed form of DENSESHIFT.md section 2.
// CPU tensors run one parallel loop per pass; other devices run the same math as tensor ops.
torch::Tensor latent_weight(const torch::Tensor& latents, latent::Layout L);

// The same quantizer written as a chain of autograd ops with straight-through tricks
// (x + (b(x) - x).detach()). Slower; it exists to cross-check the fused op in tests.
torch::Tensor latent_weight_composite(const torch::Tensor& latents, latent::Layout L);

// Int8 codes s*m*(P+1) of the latents (no gradient), for the weight-freezing metric.
torch::Tensor latent_codes(const torch::Tensor& latents, latent::Layout L);

// DeepShift-Q: sign(w) * 2^clamp(round(log2|w|), -(2^(b-1)-1), 0) with identity STE.
torch::Tensor deepshift_q_weight(const torch::Tensor& w, int bits);
// Int8 codes sign(w) * (exponent index + 1).
torch::Tensor deepshift_q_codes(const torch::Tensor& w, int bits);

}  // namespace ds
