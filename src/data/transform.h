// Pixel transforms shared by all readers: crops, resampling, flips and normalization.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "data/dataset.h"

namespace ds::data {

// Read-only 8-bit pixels with arbitrary strides (in elements), so planar CIFAR records and
// interleaved decoded JPEG/PNG buffers go through the same code without a copy.
struct ImageView {
  const uint8_t* px = nullptr;
  int c = 0, h = 0, w = 0;
  ptrdiff_t sc = 0, sy = 0, sx = 0;

  uint8_t at(int ch, int y, int x) const { return px[ch * sc + y * sy + x * sx]; }
  static ImageView interleaved(const uint8_t* p, int c, int h, int w) {
    return {p, c, h, w, 1, ptrdiff_t(w) * c, c};
  }
  static ImageView planar(const uint8_t* p, int c, int h, int w) {
    return {p, c, h, w, ptrdiff_t(h) * w, w, 1};
  }
};

// The transform open_dataset() uses for `kind`: the augmentation (kNone for evaluation; see
// Augment for what each does per kind) and the normalization (empty: none, pixels in [0, 1]).
// DataError when the augmentation does not apply to the kind (check_augment).
Transform standard_transform(Kind kind, Augment augment, const Normalization& norm);

// Speech: the time shift of `augment` (kSpeech: up to 100 ms either way) at fe's rate.
Transform speech_transform(Augment augment, const core::AudioFrontEnd& fe);

// Throws DataError prefixed with `what` if `t` is inconsistent or its mean/std do not
// match `channels`.
void check_transform(const Transform& t, int channels, const std::string& what);

// Shape apply_transform() produces from an input of shape `in`. Inputs of varying size
// (in.h == 0) need a transform with a fixed output size (crop > 0).
Shape transform_output_shape(const Transform& t, Shape in);

// Applies `t` to `img` and writes transform_output_shape() floats (CHW, normalized) to out.
// All randomness comes from `rng`, drawn in a fixed order.
void apply_transform(const Transform& t, const ImageView& img, float* out, std::mt19937& rng);

// Portable draws: std::uniform_*_distribution differ between standard libraries, and
// augmentation must replay identically everywhere.
double uniform01(std::mt19937& rng);              // [0, 1)
int uniform_int(std::mt19937& rng, int lo, int hi);  // [lo, hi], inclusive

}  // namespace ds::data
