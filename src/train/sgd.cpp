#include "train/sgd.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace ds {
namespace {

// One pass over a CPU float parameter: d = g + wd*p; buf = m*buf + d; p -= lr*buf.
// The tensor-op version makes five passes over memory; on small models memory traffic,
// not arithmetic, is what the optimizer costs, and latent methods have (1+K)x the parameters.
void fused_step(float* p, float* buf, const float* g, int64_t n, float lr, float m, float wd) {
  at::parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float d = g[i] + wd * p[i];
      buf[i] = m * buf[i] + d;
      p[i] -= lr * buf[i];
    }
  });
}

bool fusable(const torch::Tensor& p, const torch::Tensor& g) {
  return p.device().is_cpu() && p.scalar_type() == torch::kFloat && p.is_contiguous() &&
         g.scalar_type() == torch::kFloat && g.is_contiguous();
}

}  // namespace

Sgd::Sgd(const torch::nn::Module& model, double momentum, double weight_decay)
    : momentum_(momentum), wd_(weight_decay) {
  for (const auto& p : model.named_parameters())
    if (p.value().requires_grad()) slots_.push_back({p.key(), p.value(), torch::zeros_like(p.value())});
}

void Sgd::zero_grad() {
  // Drop the gradients rather than zeroing them (PyTorch's set_to_none): backward then
  // stores its result instead of adding it to a buffer of zeros.
  for (auto& s : slots_) s.param.mutable_grad() = torch::Tensor();
}

void Sgd::set_lr_scale(const std::vector<std::string>& names, double scale) {
  for (const std::string& n : names) {
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.name == n; });
    if (it != slots_.end()) it->lr_scale = scale;  // absent: frozen, so it never steps
  }
}

void Sgd::step(double base_lr) {
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    const double lr = base_lr * s.lr_scale;
    const torch::Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    if (fusable(s.param, g)) {
      fused_step(s.param.data_ptr<float>(), s.buf.data_ptr<float>(), g.data_ptr<float>(), g.numel(), float(lr),
                 float(momentum_), float(wd_));
      continue;
    }
    torch::Tensor d = wd_ != 0 ? g.add(s.param, wd_) : g;
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
