#include "train/sgd.h"

namespace ds {

Sgd::Sgd(const torch::nn::Module& model, double momentum, double weight_decay)
    : momentum_(momentum), wd_(weight_decay) {
  for (const auto& p : model.named_parameters())
    if (p.value().requires_grad()) slots_.push_back({p.key(), p.value(), torch::zeros_like(p.value())});
}

void Sgd::zero_grad() {
  for (auto& s : slots_)
    if (s.param.grad().defined()) s.param.mutable_grad().zero_();
}

void Sgd::step(double lr) {
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    if (!s.param.grad().defined()) continue;
    torch::Tensor d = s.param.grad();
    if (wd_ != 0) d = d.add(s.param, wd_);
    // A zero buffer makes the first step buf = d, as PyTorch's first step does.
    if (momentum_ != 0) d = s.buf.mul_(momentum_).add_(d);
    s.param.add_(d, -lr);
  }
}

NamedTensors Sgd::momentum_state() const {
  NamedTensors out;
  for (const auto& s : slots_) out.emplace_back(s.name, s.buf.detach().to(torch::kCPU));
  return out;
}

void Sgd::load_momentum_state(const NamedTensors& st, const std::string& source) {
  for (auto& s : slots_) {
    bool found = false;
    for (const auto& [k, v] : st) {
      if (k != s.name) continue;
      if (v.sizes() != s.buf.sizes())
        throw CheckpointError(source + ": momentum of '" + k + "' has shape " + c10::str(v.sizes()) +
                              ", expected " + c10::str(s.buf.sizes()));
      torch::NoGradGuard ng;
      s.buf.copy_(v);
      found = true;
    }
    if (!found) throw CheckpointError(source + ": no momentum buffer for '" + s.name + "'");
  }
}

}  // namespace ds
