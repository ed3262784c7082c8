// Checkpoint -> .dsm model file: quantized weights as packed b-bit codes, BatchNorm folded into a
// per-output-channel scale and bias, the graph, input shape, normalization and class names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "core/model_format.h"
#include "train/layers.h"

namespace ds {

// Builds graph nodes from trained modules; models call it from NetImpl::emit().
class GraphEmitter {
 public:
  static constexpr uint32_t kInput = 0;
  // conv -> folded bn (optional) -> (+ residual) -> relu
  uint32_t conv(const QConv2dImpl& conv, const torch::nn::BatchNorm2dImpl* bn, uint32_t x, bool relu,
                std::optional<uint32_t> residual = std::nullopt);
  uint32_t linear(const QLinearImpl& fc, uint32_t x);
  uint32_t maxpool(uint32_t x, int kernel, int stride, int pad);
  uint32_t avgpool(uint32_t x, int kernel, int stride, int pad);
  uint32_t global_avgpool(uint32_t x);
  uint32_t shortcut_a(uint32_t x, int stride, int pad_lo, int pad_hi);
  core::ModelDesc& desc() { return desc_; }

 private:
  uint32_t push(core::NodeDesc n);
  void set_weights(core::NodeDesc& n, const QuantWeight& qw, int64_t rows, int64_t cols);
  core::ModelDesc desc_;
};

struct ExportReport {
  std::string path;
  size_t file_bytes = 0;
  size_t fp32_weight_bytes = 0;  // the same weights as FP32 (what an FP32 model file holds)
  size_t quantized_layers = 0, fp32_layers = 0;
};

// Loads the checkpoint, rebuilds its model, emits and writes the model file. The dataset of
// the run (or `data` when given) supplies class names and the input shape.
ExportReport export_checkpoint(const std::string& checkpoint, const std::string& out_path, const std::string& data = "");

}  // namespace ds
