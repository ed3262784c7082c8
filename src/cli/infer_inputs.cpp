#include "cli/infer_inputs.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "data/audio_file.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/io.h"
#include "runtime/audio_frontend.h"
#include "runtime/preprocess.h"

namespace ds::cli {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string shape_text(uint32_t c, uint32_t h, uint32_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

// What an input file holds, by its first bytes (the name says nothing: "idx" in a folder name
// once made a photo an IDX file).
enum class InputKind { kPicture, kIdx, kAudio };
constexpr uint32_t kIdxImageMagic = 0x00000803;  // unsigned bytes, 3 dimensions

InputKind input_kind(const std::vector<uint8_t>& bytes, const std::string& path) {
  static const uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF}, kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto starts_with = [&](const uint8_t* sig, size_t n) { return bytes.size() >= n && std::equal(sig, sig + n, bytes.begin()); };
  if (starts_with(kJpeg, sizeof kJpeg) || starts_with(kPng, sizeof kPng)) return InputKind::kPicture;
  if (data::looks_like_audio(bytes.data(), bytes.size())) return InputKind::kAudio;
  data::detail::ByteStream s(bytes, path);  // raw or gzip
  uint8_t magic[4];
  if (s.read(magic, 4) == 4 && be32(magic) == kIdxImageMagic) return InputKind::kIdx;
  throw data::DataError(path + " is not a JPEG, PNG or IDX image file, nor WAV/FLAC/Ogg/AIFF audio");
}

// The first `limit` images of an IDX image file (MNIST layout), normalized with the model's
// mean/std. Reads only those images' bytes (inflating no more of a gzip file than that).
void idx_images(const std::vector<uint8_t>& bytes, const std::string& path, const core::ModelInfo& info, size_t limit,
                std::vector<InferInput>& out) {
  data::detail::ByteStream s(bytes, path);
  uint8_t h[16];
  if (s.read(h, 16) != 16) throw data::DataError(path + " is truncated: an IDX image header takes 16 bytes");
  const size_t n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
  if (rows != info.in_h || cols != info.in_w || info.in_c != 1)
    throw std::invalid_argument(path + ": images are 1x" + std::to_string(rows) + "x" + std::to_string(cols) +
                                ", the model takes " + shape_text(info.in_c, info.in_h, info.in_w));
  if (n == 0) throw data::DataError(path + " holds no images");
  std::vector<uint8_t> px(rows * cols);
  for (size_t i = 0; i < std::min(n, limit); ++i) {
    if (s.read(px.data(), px.size()) != px.size())
      throw data::DataError(path + " is truncated: image " + std::to_string(i) + " of " + std::to_string(n) + " ends early");
    std::vector<float> img(px.size());
    for (size_t p = 0; p < px.size(); ++p) img[p] = (px[p] / 255.f - info.mean[0]) / info.std[0];
    out.push_back({path + "[" + std::to_string(i) + "]", std::move(img)});
  }
}

// A clip at the model's rate through the engine's front end. A clip longer than the model hears
// is cut, and the cut is said (the model never heard its end).
std::vector<float> audio_input(const std::string& path, const core::AudioFrontEnd& fe, const core::ModelInfo& info) {
  const std::vector<float> wave = data::load_audio(path, fe.sample_rate);
  if (wave.size() > fe.clip_samples)
    std::fprintf(stderr, "%s: %.2f s long, the model hears the first %.2f s\n", path.c_str(),
                 double(wave.size()) / fe.sample_rate, double(fe.clip_samples) / fe.sample_rate);
  return rt::preprocess_audio(wave, info, path);
}

}  // namespace

std::vector<InferInput> read_infer_inputs(const std::vector<std::string>& files, const core::ModelInfo& info,
                                          size_t idx_limit) {
  std::vector<InferInput> out;
  for (const auto& f : files) {
    const std::vector<uint8_t> bytes = data::detail::read_file(f, data::detail::kMaxDataBytes);
    const InputKind kind = input_kind(bytes, f);
    if ((kind == InputKind::kAudio) != bool(info.audio))
      throw std::invalid_argument(f + " is " + (kind == InputKind::kAudio ? "audio" : "a picture") + ", the model takes " +
                                  (info.audio ? "audio (WAV, FLAC, ...)" : "pictures"));
    if (kind == InputKind::kAudio) {
      out.push_back({f, audio_input(f, *info.audio, info)});
    } else if (kind == InputKind::kIdx) {
      idx_images(bytes, f, info, idx_limit, out);
    } else {
      const data::Image img = data::decode_image(bytes.data(), bytes.size(), f);
      out.push_back({f, rt::preprocess_image({img.px.data(), img.c, img.h, img.w}, info, f)});
    }
  }
  return out;
}

}  // namespace ds::cli
