// BatchNorm whose training statistics span every rank (--sync-bn), PyTorch's SyncBatchNorm:
// the per-channel sums of x and x^2 (forward) and of dy and dy*xhat (backward) are all-reduced,
// so 2 ranks of 32 images normalize exactly as 1 process of 64 does. Models call
// ds::dist::batch_norm(bn, x) for every BatchNorm; without a synchronizing group set (or in
// eval mode) it is bn->forward(x).
#pragma once

#include <torch/torch.h>

namespace ds::dist {

class Comm;

// The group BatchNorm synchronizes over; nullptr (the default) for per-rank statistics.
void set_sync_batch_norm(Comm* comm);
bool sync_batch_norm_enabled();

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);
inline torch::Tensor batch_norm(torch::nn::BatchNorm2d& bn, const torch::Tensor& x) { return batch_norm(*bn, x); }

}  // namespace ds::dist
