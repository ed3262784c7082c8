// The initial latents of DenseShift / shift-with-zero layers (DENSESHIFT.md section 3).
#pragma once

#include <torch/torch.h>

namespace ds {

// Low-variance random initialization: every latent ~ N(0, kLvriStd). The paper's value.
constexpr double kLvriStd = 1e-3;

// --latent-std (a departure from the paper, for issue 16's study): scales every latent tensor of
// a freshly initialized model by std / kLvriStd, so the latents are N(0, std) drawn from the same
// random numbers as the default run: the two runs differ in the init's scale and nothing else.
// Returns the number of latent tensors scaled.
int rescale_latent_init(torch::nn::Module& model, double std);

}  // namespace ds
