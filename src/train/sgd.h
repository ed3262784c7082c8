// SGD with momentum and weight decay, exactly PyTorch's torch.optim.SGD (dampening 0,
// no Nesterov), with its momentum buffers addressable by parameter name so that a
// checkpoint restores them and a resumed run continues bit for bit.
#pragma once

#include <string>
#include <torch/torch.h>

#include "train/checkpoint.h"

namespace ds {

class Sgd {
 public:
  Sgd(const torch::nn::Module& model, double momentum, double weight_decay);
  void zero_grad();
  void step(double lr);
  // Parameters in `names` step with lr * scale (--lr-head); names not trained (frozen) are skipped.
  void set_lr_scale(const std::vector<std::string>& names, double scale);
  NamedTensors momentum_state() const;
  void load_momentum_state(const NamedTensors& s, const std::string& source);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, buf;
    double lr_scale = 1;
  };
  std::vector<Slot> slots_;
  double momentum_, wd_;
};

}  // namespace ds
