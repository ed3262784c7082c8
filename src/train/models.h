// The ResNet family and a small CNN, built from QConv2d/QLinear so any method fits any model.
// Module names follow torchvision ("layer1.0.conv1", "layer2.0.downsample.0", "fc").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/audio_frontend.h"
#include "train/layers.h"

namespace ds {

struct ModelConfig {
  std::string arch = "resnet18";
  int in_channels = 3;
  int num_classes = 1000;
  QuantPolicy policy;
  // Speech models (train/speech_model.h): the front end their forward() starts with, and whether
  // forward_train() applies SpecAugment. Image models refuse an audio front end.
  std::optional<core::AudioFrontEnd> audio;
  bool spec_augment = false;
};

class GraphEmitter;

// A classifier: images [N, C, H, W] -> logits [N, classes].
class NetImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // A training step's forward: `keys` are the samples' augmentation seeds (data::Batch::keys), for
  // augmentation the model applies itself (speech models: SpecAugment on their features).
  virtual torch::Tensor forward_train(const torch::Tensor& x, const std::vector<uint64_t>& keys) {
    (void)keys;
    return forward(x);
  }
  // Describes the network, layer by layer, to the exporter (train/export.h). Returns the logits' value id.
  virtual uint32_t emit(GraphEmitter& g) const = 0;
};

// Known names: resnet18, resnet34, resnet50 (ImageNet-style, 7x7 stem + max-pool),
// resnet20, resnet32, resnet44, resnet56 (CIFAR-style, 3x3 stem, option-A shortcuts, any input
// size), smallcnn (the fast demo network); res8, res8-narrow (speech, train/speech_model.h).
// Throws std::invalid_argument for others, and for a picture model given an audio front end.
std::shared_ptr<NetImpl> make_model(const ModelConfig& cfg);
std::vector<std::string> model_names();

int64_t parameter_count(const torch::nn::Module& m);

}  // namespace ds
