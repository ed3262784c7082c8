// Speech models: the log-mel front end, then a residual CNN over the 1 x n_mels x frames
// "image" (res8 of Tang & Lin 2018, "Deep Residual Learning for Small-Footprint Keyword
// Spotting"). Built from QConv2d/QLinear, so every method fits; the first conv and the fc follow
// the policy's first/last specs (FP32 by default), as in the vision models.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "train/models.h"

namespace ds {

// res8: 3x3 conv to 45 maps, 4x4 average pooling, three residual blocks of two 3x3 convs (45
// maps), global average pooling, fc. res8-narrow: the same with 19 maps.
std::vector<std::string> speech_model_names();
bool is_speech_model(const std::string& arch);
// cfg.audio must be set. cfg.spec_augment: forward_train() masks the features (SpecAugment).
std::shared_ptr<NetImpl> make_speech_model(const ModelConfig& cfg);

}  // namespace ds
