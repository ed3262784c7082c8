#include "train/dist/sync_bn.h"

#include "train/dist/comm.h"

namespace ds::dist {
namespace {

Comm* g_comm = nullptr;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Statistics are summed in double: the sums of x^2 over a whole global batch lose digits in float.
struct SyncBnFunction : public torch::autograd::Function<SyncBnFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double eps, double momentum) {
    const int64_t C = x.size(1);
    const torch::Tensor xd = x.to(torch::kDouble);
    torch::Tensor stats = torch::cat({xd.sum({0, 2, 3}), (xd * xd).sum({0, 2, 3}),
                                      torch::full({1}, double(x.numel() / C), xd.options())});
    g_comm->allreduce_sum(stats);
    const double count = stats[2 * C].item<double>();
    const torch::Tensor mean = stats.narrow(0, 0, C) / count;
    const torch::Tensor var = (stats.narrow(0, C, C) / count - mean * mean).clamp_min(0);
    const torch::Tensor invstd = (var + eps).rsqrt();
    {
      torch::NoGradGuard ng;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype()), momentum);
      running_var.mul_(1 - momentum).add_((var * (count / std::max(count - 1, 1.0))).to(running_var.dtype()), momentum);
    }
    const auto shape = std::vector<int64_t>{1, C, 1, 1};
    const torch::Tensor xhat = ((xd - mean.view(shape)) * invstd.view(shape)).to(x.dtype());
    ctx->save_for_backward({xhat, invstd.to(x.dtype()), weight});
    ctx->saved_data["count"] = count;
    // The backward pass must reduce over the same group, whatever is set by then.
    ctx->saved_data["comm"] = int64_t(reinterpret_cast<intptr_t>(g_comm));
    return xhat * weight.view(shape) + bias.view(shape);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &xhat = saved[0], &invstd = saved[1], &weight = saved[2];
    const double count = ctx->saved_data["count"].toDouble();
    const torch::Tensor dy = grads[0];
    const int64_t C = dy.size(1);
    const torch::Tensor sum_dy = dy.sum({0, 2, 3}), sum_dy_xhat = (dy * xhat).sum({0, 2, 3});
    torch::Tensor both = torch::cat({sum_dy, sum_dy_xhat}).to(torch::kDouble);
    reinterpret_cast<Comm*>(intptr_t(ctx->saved_data["comm"].toInt()))->allreduce_sum(both);
    const auto shape = std::vector<int64_t>{1, C, 1, 1};
    const torch::Tensor mean_dy = (both.narrow(0, 0, C) / count).to(dy.dtype()).view(shape);
    const torch::Tensor mean_dy_xhat = (both.narrow(0, C, C) / count).to(dy.dtype()).view(shape);
    const torch::Tensor dx = (weight * invstd).view(shape) * (dy - mean_dy - xhat * mean_dy_xhat);
    // The affine parameters' gradients stay local: the gradient all-reduce averages them.
    return {dx, sum_dy_xhat, sum_dy, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void set_sync_batch_norm(Comm* comm) { g_comm = comm; }
bool sync_batch_norm_enabled() { return g_comm != nullptr; }

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (!g_comm || !bn.is_training()) return bn.forward(x);
  bn.num_batches_tracked += 1;
  return SyncBnFunction::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.options.eps(),
                               bn.options.momentum().value());
}

}  // namespace ds::dist
