// Per-channel normalization statistics of a dataset's training split.
#include <cmath>

#include "data/io.h"
#include "data/readers.h"

namespace ds::data {

namespace {

// Pixel value counts per channel: exact, and the mean and std follow in 256 steps.
using Histogram = std::vector<uint64_t>;

void add_plane(Histogram& h, const uint8_t* px, size_t n) {
  for (size_t i = 0; i < n; ++i) ++h[px[i]];
}

// Population mean and std of pixels / 255, as torchvision recipes compute them over a dataset.
Normalization from_histograms(const std::vector<Histogram>& hs, const std::string& root) {
  Normalization n;
  for (size_t c = 0; c < hs.size(); ++c) {
    double count = 0, sum = 0;
    for (int v = 0; v < 256; ++v) {
      count += double(hs[c][v]);
      sum += double(hs[c][v]) * v / 255.0;
    }
    const double mean = sum / count;
    double var = 0;
    for (int v = 0; v < 256; ++v) var += double(hs[c][v]) * std::pow(v / 255.0 - mean, 2);
    const double sd = std::sqrt(var / count);
    if (!(sd > 0)) {
      throw DataError(root + ": every training pixel of channel " + std::to_string(c) +
                      " has the same value, so it cannot be normalized (std 0)");
    }
    n.mean.push_back(float(mean));
    n.std.push_back(float(sd));
  }
  return n;
}

}  // namespace

Normalization dataset_normalization(const std::string& root) {
  const Kind kind = detect_kind(root);
  // The log-mel front end normalizes each utterance itself (core/audio_frontend.h).
  if (is_speech(kind)) return {{0.f}, {1.f}};
  if (kind == Kind::kImageFolder) {
    // Decoding every training image to measure it would take as long as an epoch; the ImageNet
    // statistics are what the authors' recipe and torchvision's pretrained models use.
    return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  }
  const std::vector<std::string> files = detail::split_files(root, kind, Split::kTrain);
  if (kind == Kind::kIdx) {
    const detail::IdxFile images = detail::read_idx(files[0], detail::kIdxImageMagic);
    std::vector<Histogram> h(1, Histogram(256));
    add_plane(h[0], images.data.data(), images.data.size());
    return from_histograms(h, root);
  }
  const detail::CifarRecords rec = detail::read_cifar(files, kind == Kind::kCifar100, {});
  std::vector<Histogram> h(3, Histogram(256));
  constexpr size_t kPlane = detail::kCifarPixels / 3;
  for (size_t off = rec.record - detail::kCifarPixels; off < rec.data.size(); off += rec.record) {
    for (int c = 0; c < 3; ++c) add_plane(h[c], rec.data.data() + off + c * kPlane, kPlane);
  }
  return from_histograms(h, root);
}

}  // namespace ds::data
