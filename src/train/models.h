// The ResNet family and a small CNN, built from QConv2d/QLinear so any method fits any model.
// Module names follow torchvision ("layer1.0.conv1", "layer2.0.downsample.0", "fc").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "train/layers.h"

namespace ds {

struct ModelConfig {
  std::string arch = "resnet18";
  int in_channels = 3;
  int num_classes = 1000;
  QuantPolicy policy;
};

class GraphEmitter;

// A classifier: images [N, C, H, W] -> logits [N, classes].
class NetImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Describes the network, layer by layer, to the exporter (train/export.h). Returns the logits' value id.
  virtual uint32_t emit(GraphEmitter& g) const = 0;
};

// Known names: resnet18, resnet34, resnet50 (ImageNet-style, 7x7 stem + max-pool),
// resnet20, resnet32, resnet44, resnet56 (CIFAR-style, 3x3 stem, option-A shortcuts, any input
// size), smallcnn (the fast demo network). Throws std::invalid_argument for others.
std::shared_ptr<NetImpl> make_model(const ModelConfig& cfg);
std::vector<std::string> model_names();

int64_t parameter_count(const torch::nn::Module& m);

}  // namespace ds
