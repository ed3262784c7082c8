#include "data/transform.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ds::data {

namespace {

// torchvision's RandomResizedCrop defaults.
constexpr double kScaleMin = 0.08, kScaleMax = 1.0;
constexpr double kRatioMin = 3.0 / 4.0, kRatioMax = 4.0 / 3.0;
constexpr int kRrcAttempts = 10;

// Python's round() (ties to even), which torchvision uses for crop geometry.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

struct Box {
  int y = 0, x = 0, h = 0, w = 0;
};

// torchvision RandomResizedCrop.get_params, with our portable draws.
Box random_resized_box(int height, int width, std::mt19937& rng) {
  const double area = double(height) * width;
  const double log_lo = std::log(kRatioMin), log_hi = std::log(kRatioMax);
  for (int attempt = 0; attempt < kRrcAttempts; ++attempt) {
    const double target = area * (kScaleMin + (kScaleMax - kScaleMin) * uniform01(rng));
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * uniform01(rng));
    const int w = round_half_even(std::sqrt(target * aspect));
    const int h = round_half_even(std::sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const int y = uniform_int(rng, 0, height - h);
      const int x = uniform_int(rng, 0, width - w);
      return {y, x, h, w};
    }
  }
  // Fallback: the largest centered crop whose aspect ratio lies in the allowed range.
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < kRatioMin) {
    h = round_half_even(w / kRatioMin);
  } else if (in_ratio > kRatioMax) {
    w = round_half_even(h * kRatioMax);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

// Size after torchvision's Resize(size): shorter side -> size, longer side truncated.
void resized_dims(int h, int w, int size, int* oh, int* ow) {
  if (w <= h) {
    *ow = size;
    *oh = static_cast<int>(double(size) * h / w);
  } else {
    *oh = size;
    *ow = static_cast<int>(double(size) * w / h);
  }
}

// Offset of a centered window of `crop` in `full`; negative when the crop is larger, in which
// case torchvision zero-pads floor((crop - full) / 2) before the start.
int center_offset(int full, int crop) {
  if (crop > full) return -((crop - full) / 2);
  return round_half_even((full - crop) / 2.0);
}

// Resampling weights along one axis: output indices [dst0, dst0 + n) of an axis of length
// dst_len obtained by resizing source range [src0, src0 + src_len). A triangle filter widened
// by the downscale factor (as PIL does) antialiases when shrinking and is plain bilinear with
// half-pixel centers when enlarging. Outputs outside [0, dst_len) get no taps (zero padding).
struct AxisTaps {
  std::vector<int> first, count;
  std::vector<size_t> offset;
  std::vector<float> weight;
};

AxisTaps axis_taps(int src0, int src_len, int dst_len, int dst0, int n) {
  AxisTaps t;
  const double scale = double(src_len) / dst_len;
  const double fscale = std::max(scale, 1.0);
  for (int k = 0; k < n; ++k) {
    const int d = dst0 + k;
    t.offset.push_back(t.weight.size());
    if (d < 0 || d >= dst_len) {
      t.first.push_back(0);
      t.count.push_back(0);
      continue;
    }
    const double center = src0 + (d + 0.5) * scale;
    const int lo = std::max(src0, static_cast<int>(std::floor(center - fscale)));
    const int hi = std::min(src0 + src_len, static_cast<int>(std::ceil(center + fscale)));
    double sum = 0;
    for (int j = lo; j < hi; ++j) {
      const double v = std::max(0.0, 1.0 - std::fabs((j + 0.5 - center) / fscale));
      t.weight.push_back(static_cast<float>(v));
      sum += v;
    }
    t.first.push_back(lo);
    t.count.push_back(hi - lo);
    // Normalize so that a constant image stays constant, also where taps hit the border.
    for (size_t i = t.offset.back(); i < t.weight.size(); ++i) {
      t.weight[i] = static_cast<float>(t.weight[i] / sum);
    }
  }
  return t;
}

// Per-channel affine map from raw pixel values [0, 255] to normalized floats.
struct Normalizer {
  std::vector<float> a, b;
  Normalizer(const Transform& t, int channels) {
    for (int c = 0; c < channels; ++c) {
      const float mean = t.mean.empty() ? 0.f : t.mean[c];
      const float sd = t.std.empty() ? 1.f : t.std[c];
      a.push_back(1.f / (255.f * sd));
      b.push_back(-mean / sd);
    }
  }
};

// Resamples `box` of img to a dst_h x dst_w grid and writes its window at (oy0, ox0) of size
// oh x ow, in raw pixel units, to out (CHW).
void resample(const ImageView& img, const Box& box, int dst_h, int dst_w, int oy0, int ox0,
              int oh, int ow, float* out) {
  const AxisTaps ty = axis_taps(box.y, box.h, dst_h, oy0, oh);
  const AxisTaps tx = axis_taps(box.x, box.w, dst_w, ox0, ow);
  int ymin = img.h, ymax = 0;
  for (int k = 0; k < oh; ++k) {
    if (ty.count[k] == 0) continue;
    ymin = std::min(ymin, ty.first[k]);
    ymax = std::max(ymax, ty.first[k] + ty.count[k]);
  }
  const int rows = std::max(0, ymax - ymin);
  // Horizontal pass over only the source rows the vertical pass will read.
  std::vector<float> tmp(size_t(img.c) * rows * ow);
  for (int c = 0; c < img.c; ++c) {
    for (int r = 0; r < rows; ++r) {
      float* dst = tmp.data() + (size_t(c) * rows + r) * ow;
      for (int x = 0; x < ow; ++x) {
        const float* w = tx.weight.data() + tx.offset[x];
        float s = 0;
        for (int k = 0; k < tx.count[x]; ++k) s += w[k] * img.at(c, ymin + r, tx.first[x] + k);
        dst[x] = s;
      }
    }
  }
  for (int c = 0; c < img.c; ++c) {
    for (int y = 0; y < oh; ++y) {
      float* dst = out + (size_t(c) * oh + y) * ow;
      std::fill(dst, dst + ow, 0.f);
      const float* w = ty.weight.data() + ty.offset[y];
      for (int k = 0; k < ty.count[y]; ++k) {
        const float* src = tmp.data() + (size_t(c) * rows + (ty.first[y] + k - ymin)) * ow;
        for (int x = 0; x < ow; ++x) dst[x] += w[k] * src[x];
      }
    }
  }
}

// Zero-padded shift by (dy, dx): the pad-and-random-crop of the small datasets.
void shift_copy(const ImageView& img, int dy, int dx, float* out) {
  for (int c = 0; c < img.c; ++c) {
    for (int y = 0; y < img.h; ++y) {
      float* dst = out + (size_t(c) * img.h + y) * img.w;
      const int sy = y + dy;
      for (int x = 0; x < img.w; ++x) {
        const int sx = x + dx;
        const bool inside = sy >= 0 && sy < img.h && sx >= 0 && sx < img.w;
        dst[x] = inside ? float(img.at(c, sy, sx)) : 0.f;
      }
    }
  }
}

}  // namespace

double uniform01(std::mt19937& rng) { return rng() * (1.0 / 4294967296.0); }

int uniform_int(std::mt19937& rng, int lo, int hi) {
  const uint32_t n = static_cast<uint32_t>(hi - lo) + 1u;
  if (n == 0) return lo + static_cast<int>(rng());  // full 32-bit range
  // Rejection keeps the draw unbiased: discard the top partial block of the 2^32 range.
  const uint32_t threshold = (0u - n) % n;
  uint32_t r = static_cast<uint32_t>(rng());
  while (r < threshold) r = static_cast<uint32_t>(rng());
  return lo + static_cast<int>(r % n);
}

void check_transform(const Transform& t, int channels, const std::string& what) {
  if (t.pad_crop < 0 || t.resize < 0 || t.crop < 0) {
    throw DataError(what + ": transform sizes must be >= 0");
  }
  if (t.random_resized_crop && t.crop <= 0) {
    throw DataError(what + ": random_resized_crop needs crop > 0");
  }
  if (t.mean.size() != t.std.size()) {
    throw DataError(what + ": transform has " + std::to_string(t.mean.size()) + " means but " +
                    std::to_string(t.std.size()) + " stds");
  }
  if (!t.mean.empty() && t.mean.size() != size_t(channels)) {
    throw DataError(what + ": transform normalizes " + std::to_string(t.mean.size()) +
                    " channels, images have " + std::to_string(channels));
  }
  for (float s : t.std) {
    if (!(s > 0.f)) throw DataError(what + ": transform std must be > 0");
  }
}

Shape transform_output_shape(const Transform& t, Shape in) {
  if (t.random_resized_crop || t.crop > 0) return {in.c, t.crop, t.crop};
  if (in.h <= 0 || in.w <= 0) return {in.c, 0, 0};  // varies per image: caller must reject
  if (t.resize > 0) {
    Shape s{in.c, 0, 0};
    resized_dims(in.h, in.w, t.resize, &s.h, &s.w);
    return s;
  }
  return in;
}

void apply_transform(const Transform& t, const ImageView& img, float* out, std::mt19937& rng) {
  const Shape os = transform_output_shape(t, {img.c, img.h, img.w});
  if (t.random_resized_crop) {
    const Box box = random_resized_box(img.h, img.w, rng);
    resample(img, box, t.crop, t.crop, 0, 0, t.crop, t.crop, out);
  } else if (t.resize > 0 || t.crop > 0) {
    int full_h = img.h, full_w = img.w;
    if (t.resize > 0) resized_dims(img.h, img.w, t.resize, &full_h, &full_w);
    const int oy = t.crop > 0 ? center_offset(full_h, t.crop) : 0;
    const int ox = t.crop > 0 ? center_offset(full_w, t.crop) : 0;
    resample(img, {0, 0, img.h, img.w}, full_h, full_w, oy, ox, os.h, os.w, out);
  } else {
    int dy = 0, dx = 0;
    if (t.pad_crop > 0) {
      // Same draw order as torchvision RandomCrop: row offset, then column offset.
      dy = uniform_int(rng, 0, 2 * t.pad_crop) - t.pad_crop;
      dx = uniform_int(rng, 0, 2 * t.pad_crop) - t.pad_crop;
    }
    shift_copy(img, dy, dx, out);
  }

  const bool flip = t.hflip && uniform01(rng) < 0.5;
  const Normalizer norm(t, os.c);
  for (int c = 0; c < os.c; ++c) {
    for (int y = 0; y < os.h; ++y) {
      float* row = out + (size_t(c) * os.h + y) * os.w;
      if (flip) std::reverse(row, row + os.w);
      for (int x = 0; x < os.w; ++x) row[x] = row[x] * norm.a[c] + norm.b[c];
    }
  }
}

}  // namespace ds::data
