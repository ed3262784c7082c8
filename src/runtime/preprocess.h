// A decoded picture -> the model's input: the one preprocessing that `denseshift infer`, the
// deployment CLI and C++ users of the runtime share, so a deployed model sees what `eval` saw.
//
//   std::vector<float> x = ds::rt::preprocess_image({pixels, 3, h, w}, engine.info(), "cat.jpg");
//   std::vector<float> logits = engine.run(x.data(), 1);
//
// Standard library only (the runtime has no image decoders): decode JPEG/PNG yourself, e.g. with
// data/image_decode.h, and pass the 8-bit pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model_format.h"

namespace ds::rt {

// 8-bit pixels, interleaved (HWC): c = 1 (grey) or 3 (RGB).
struct Picture {
  const uint8_t* px = nullptr;
  int c = 0, h = 0, w = 0;
};

// The largest picture taken, in pixels: the decoders' own cap (README "Datasets").
constexpr int64_t kMaxPicturePixels = 178956970;

// The model's input (info.in_c x in_h x in_w floats, CHW, normalized) from `pic`: the shorter side
// resized (antialiased triangle filter, as PIL / torchvision) to 256 for 224x224 models and to the
// input side otherwise, a center crop of the input side, the luminance (0.299 R + 0.587 G +
// 0.114 B) for a 1-channel model, then (pixel / 255 - mean) / std per channel. A grey picture is
// taken as R = G = B. Throws std::invalid_argument naming `what` for a model whose input is not
// square with 1 or 3 channels, or a picture that is empty, too large or not 1 or 3 channels.
std::vector<float> preprocess_image(const Picture& pic, const core::ModelInfo& info, const std::string& what);

// The side preprocess_image() resizes the shorter side to, for this model.
int preprocess_resize_side(const core::ModelInfo& info);

}  // namespace ds::rt
