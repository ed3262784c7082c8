// Per-epoch quantizer diagnostics (--diagnostics): what the weight codes and their latents do.
//
// Written to <run>/diagnostics.jsonl, one JSON line per epoch (and one "epoch": 0 line for the
// initial state), per quantized layer and over all of them:
//   hist       fraction of weights per |code|: index 0 = zero weight, i >= 1 = exponent P = i - 1
//              (DeepShift-Q: i = 1 is the smallest exponent, 2^-(2^(b-1)-1))
//   flip       latent methods: per latent row (u, (z,) v1..vK) the fraction of elements whose sign
//              (x > 0) differs from the start of the epoch: freezing per latent
//   grad_abs   mean |dL/d latent| per row, averaged over the epoch's steps
//   grad_live  fraction of elements with a nonzero gradient per row, averaged over steps (v_k
//              gets gradient only while every later v_j is positive: DENSESHIFT.md section 2)
//   latent_abs mean |latent| per row at the end of the epoch (distance from the 0 threshold)
// It exists to answer issue 16 (why 4-bit trailed 3-bit) and costs nothing when off: the trainer
// does not construct it. On, it adds two reductions over the latent gradients per step.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ds {

class QuantLayer;

class Diagnostics {
 public:
  Diagnostics(const torch::nn::Module& model, std::filesystem::path file);
  void begin_epoch();     // snapshot the latent signs, reset the gradient sums
  void after_backward();  // accumulate the gradient statistics of this step
  // Appends the line of `epoch` (0: the initial state, no flip or gradient fields).
  void end_epoch(int epoch);
  // The line end_epoch would write, without writing it (tests).
  std::string line(int epoch) const;

 private:
  struct Layer {
    std::string name;
    const QuantLayer* q;
    torch::Tensor signs;      // [rows, n] bool at the start of the epoch; undefined without latents
    torch::Tensor grad_abs;   // [rows] double sums over steps
    torch::Tensor grad_live;  // [rows]
  };
  std::vector<Layer> layers_;
  int64_t steps_ = 0;
  std::filesystem::path file_;
};

}  // namespace ds
