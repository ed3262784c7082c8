#include "train/quant/latent_init.h"

#include "train/layers.h"

namespace ds {

int rescale_latent_init(torch::nn::Module& model, double std) {
  torch::NoGradGuard ng;
  int scaled = 0;
  for (const auto& [name, q] : quant_layers(model)) {
    if (latent_rows(q->quant_weight().spec()) == 0) continue;
    torch::Tensor p = q->quant_weight().param();  // a handle to the parameter's storage
    p.mul_(std / kLvriStd);
    ++scaled;
  }
  return scaled;
}

}  // namespace ds
