#include "runtime/preprocess.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ds::rt {
namespace {

std::string shape_text(uint32_t c, uint32_t h, uint32_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

// The geometry and filter below are torchvision's Resize + CenterCrop with PIL's antialiased
// resampling, as data::apply_transform computes them for evaluation: a model deployed here must
// see the pixels its `eval` saw (tests/runtime/test_preprocess.cpp checks bit-equality with it).

// Shorter side -> size, the longer one truncated (torchvision's Resize).
void resized_dims(int h, int w, int size, int* oh, int* ow) {
  if (w <= h) {
    *ow = size;
    *oh = int(double(size) * h / w);
  } else {
    *oh = size;
    *ow = int(double(size) * w / h);
  }
}

// Start of a centered window of `crop` in `full`; negative (zero padding before it) when larger.
int center_offset(int full, int crop) {
  if (crop > full) return -((crop - full) / 2);
  return int(std::nearbyint((full - crop) / 2.0));  // Python's round(), ties to even
}

// Taps of output samples [dst0, dst0 + n) of a src_len -> dst_len resize: a triangle filter widened
// by the downscale factor (antialiasing when shrinking, bilinear with half-pixel centers when
// enlarging), normalized so a constant stays constant; samples outside [0, dst_len) get none.
struct Taps {
  std::vector<int> first, count;
  std::vector<size_t> offset;
  std::vector<float> weight;
};

Taps taps(int src_len, int dst_len, int dst0, int n) {
  Taps t;
  const double scale = double(src_len) / dst_len, fscale = std::max(scale, 1.0);
  for (int k = 0; k < n; ++k) {
    const int d = dst0 + k;
    t.offset.push_back(t.weight.size());
    if (d < 0 || d >= dst_len) {
      t.first.push_back(0);
      t.count.push_back(0);
      continue;
    }
    const double center = (d + 0.5) * scale;
    const int lo = std::max(0, int(std::floor(center - fscale)));
    const int hi = std::min(src_len, int(std::ceil(center + fscale)));
    double sum = 0;
    for (int j = lo; j < hi; ++j) {
      const double v = std::max(0.0, 1.0 - std::fabs((j + 0.5 - center) / fscale));
      t.weight.push_back(float(v));
      sum += v;
    }
    t.first.push_back(lo);
    t.count.push_back(hi - lo);
    for (size_t i = t.offset.back(); i < t.weight.size(); ++i) t.weight[i] = float(t.weight[i] / sum);
  }
  return t;
}

// Channel `ch` of `pic` resized to full_h x full_w, its side x side window at (oy, ox), in raw
// pixel units [0, 255]: rows first (only the source rows the column pass reads), then columns.
std::vector<float> resample(const Picture& pic, int ch, int full_h, int full_w, int oy, int ox, int side) {
  const Taps ty = taps(pic.h, full_h, oy, side), tx = taps(pic.w, full_w, ox, side);
  int ymin = pic.h, ymax = 0;
  for (int k = 0; k < side; ++k)
    if (ty.count[size_t(k)] > 0) {
      ymin = std::min(ymin, ty.first[size_t(k)]);
      ymax = std::max(ymax, ty.first[size_t(k)] + ty.count[size_t(k)]);
    }
  const int rows = std::max(0, ymax - ymin);
  const size_t stride = size_t(pic.w) * size_t(pic.c);
  std::vector<float> tmp(size_t(rows) * size_t(side));
  for (int r = 0; r < rows; ++r) {
    const uint8_t* src = pic.px + size_t(ymin + r) * stride + size_t(ch);
    for (int x = 0; x < side; ++x) {
      const float* w = tx.weight.data() + tx.offset[size_t(x)];
      float s = 0;
      for (int k = 0; k < tx.count[size_t(x)]; ++k) s += w[k] * src[size_t(tx.first[size_t(x)] + k) * size_t(pic.c)];
      tmp[size_t(r) * size_t(side) + size_t(x)] = s;
    }
  }
  std::vector<float> out(size_t(side) * size_t(side), 0.f);
  for (int y = 0; y < side; ++y) {
    float* dst = out.data() + size_t(y) * size_t(side);
    const float* w = ty.weight.data() + ty.offset[size_t(y)];
    for (int k = 0; k < ty.count[size_t(y)]; ++k) {
      const float* src = tmp.data() + size_t(ty.first[size_t(y)] + k - ymin) * size_t(side);
      for (int x = 0; x < side; ++x) dst[x] += w[k] * src[x];
    }
  }
  return out;
}

void check(const Picture& pic, const core::ModelInfo& info, const std::string& what) {
  // The crop is square and a picture has 1 or 3 channels: other models take no picture.
  if (info.in_h != info.in_w || (info.in_c != 1 && info.in_c != 3))
    throw std::invalid_argument(what + ": the model takes " + shape_text(info.in_c, info.in_h, info.in_w) +
                                " inputs; pictures fit models with square 1- or 3-channel inputs");
  if (info.mean.size() != info.in_c || info.std.size() != info.in_c)
    throw std::invalid_argument(what + ": the model has " + std::to_string(info.mean.size()) + " means and " +
                                std::to_string(info.std.size()) + " stds for " + std::to_string(info.in_c) + " channels");
  if (pic.c != 1 && pic.c != 3)
    throw std::invalid_argument(what + ": a picture has 1 or 3 channels, got " + std::to_string(pic.c));
  if (pic.h <= 0 || pic.w <= 0 || !pic.px)
    throw std::invalid_argument(what + ": the picture is empty (" + std::to_string(pic.w) + "x" + std::to_string(pic.h) + ")");
  if (int64_t(pic.h) * pic.w > kMaxPicturePixels)
    throw std::invalid_argument(what + ": " + std::to_string(pic.w) + "x" + std::to_string(pic.h) + " pixels, more than " +
                                std::to_string(kMaxPicturePixels));
}

}  // namespace

int preprocess_resize_side(const core::ModelInfo& info) {
  // ImageNet's evaluation: resize 256, crop 224; smaller models are trained on their own size.
  return info.in_h == 224 && info.in_w == 224 ? 256 : int(info.in_h);
}

std::vector<float> preprocess_image(const Picture& pic, const core::ModelInfo& info, const std::string& what) {
  check(pic, info, what);
  const int side = int(info.in_h);
  int full_h = 0, full_w = 0;
  resized_dims(pic.h, pic.w, preprocess_resize_side(info), &full_h, &full_w);
  const int oy = center_offset(full_h, side), ox = center_offset(full_w, side);
  // R, G, B planes in [0, 1]; a grey picture is its one plane three times (as the decoders
  // replicate it), so a grey model gets the same luminance from a grey or an RGB-grey file.
  std::vector<float> rgb[3];
  for (int c = 0; c < 3; ++c) {
    rgb[c] = c < pic.c ? resample(pic, c, full_h, full_w, oy, ox, side) : rgb[0];
    // Written as the training transform scales (x * (1 / 255) - 0), so the numbers are the same.
    const float a = 1.f / 255.f, b = -0.f;
    if (c < pic.c)
      for (float& v : rgb[c]) v = v * a + b;
  }
  const size_t plane = size_t(side) * size_t(side);
  std::vector<float> out(size_t(info.in_c) * plane);
  for (uint32_t c = 0; c < info.in_c; ++c)
    for (size_t p = 0; p < plane; ++p) {
      const float v = info.in_c == 1 ? 0.299f * rgb[0][p] + 0.587f * rgb[1][p] + 0.114f * rgb[2][p] : rgb[c][p];
      out[size_t(c) * plane + p] = (v - info.mean[c]) / info.std[c];
    }
  return out;
}

}  // namespace ds::rt
