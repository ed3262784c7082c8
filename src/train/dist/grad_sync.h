// Gradient averaging for data-parallel training, as PyTorch's DDP does it: parameters are
// grouped into buckets in reverse order (the order backward produces their gradients), each
// bucket's all-reduce starts from an autograd hook as soon as its last gradient is ready, so
// communication overlaps the rest of the backward pass; finish() waits and writes the average.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "train/dist/comm.h"

namespace ds::dist {

class GradSync {
 public:
  // DDP's defaults: a small first bucket (1 MiB) so the first all-reduce starts early, 25 MiB after.
  static constexpr size_t kFirstBucketBytes = size_t(1) << 20;
  static constexpr size_t kBucketBytes = size_t(25) << 20;

  GradSync(Comm& comm, const std::vector<std::pair<std::string, torch::Tensor>>& params,
           size_t first_bucket_bytes = kFirstBucketBytes, size_t bucket_bytes = kBucketBytes);
  ~GradSync();

  // Before backward: forget the previous step.
  void prepare();
  // After backward: starts buckets no hook started (parameters unused in this step count as
  // zero gradients), waits for all, and sets every parameter's grad to the mean over ranks.
  void finish();
  size_t buckets() const;
  double last_wait_ms() const { return wait_ms_; }  // time finish() spent waiting for all-reduces

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  double wait_ms_ = 0;
};

}  // namespace ds::dist
