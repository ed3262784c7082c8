// rt::preprocess_image against the path `denseshift infer` took before it existed: the decoder's
// RGB (grey replicated), data::apply_transform's resize + center crop, then luminance and the
// model's mean/std. A deployed model must see the numbers its evaluation saw.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "data/transform.h"
#include "runtime/preprocess.h"

namespace {

using ds::core::ModelInfo;

ModelInfo model(uint32_t c, uint32_t side) {
  ModelInfo m;
  m.in_c = c, m.in_h = side, m.in_w = side, m.num_classes = 10;
  for (uint32_t i = 0; i < c; ++i) m.mean.push_back(0.2f + 0.1f * float(i)), m.std.push_back(0.3f + 0.05f * float(i));
  return m;
}

// The old engine_commands.cpp picture(), on an already decoded RGB image (HWC).
std::vector<float> old_path(const std::vector<uint8_t>& rgb, int h, int w, const ModelInfo& info) {
  ds::data::Transform t;
  t.resize = info.in_h == 224 && info.in_w == 224 ? 256 : int(info.in_h);
  t.crop = int(info.in_h);
  t.mean.assign(3, 0.f), t.std.assign(3, 1.f);
  std::vector<float> planes(size_t(3) * info.in_h * info.in_w);
  std::mt19937 rng(0);
  ds::data::apply_transform(t, ds::data::ImageView::interleaved(rgb.data(), 3, h, w), planes.data(), rng);
  const size_t plane = size_t(info.in_h) * info.in_w;
  std::vector<float> out(size_t(info.in_c) * plane);
  for (uint32_t c = 0; c < info.in_c; ++c)
    for (size_t p = 0; p < plane; ++p) {
      const float v = info.in_c == 1 ? 0.299f * planes[p] + 0.587f * planes[plane + p] + 0.114f * planes[2 * plane + p]
                                     : planes[size_t(c) * plane + p];
      out[size_t(c) * plane + p] = (v - info.mean[c]) / info.std[c];
    }
  return out;
}

std::vector<uint8_t> noise(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = uint8_t(rng() & 255);
  return v;
}

void expect_same(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += std::abs(a[i] - b[i]) > 1e-6f;
  EXPECT_EQ(differ, 0u) << what << ": " << differ << " of " << a.size() << " values differ by more than 1e-6";
}

// Shrinking, enlarging, landscape, portrait, exactly the input size, and a 224 model (resize 256).
TEST(Preprocess, MatchesTheOldInferPathOnRgbAndGreyPictures) {
  const int sizes[][2] = {{20, 30}, {57, 17}, {28, 28}, {9, 11}, {300, 261}, {3, 500}};
  for (uint32_t side : {28u, 32u, 224u})
    for (uint32_t c : {1u, 3u})
      for (const auto& s : sizes) {
        const int h = s[0], w = s[1];
        const std::string what = std::to_string(h) + "x" + std::to_string(w) + " -> " + std::to_string(c) + "x" +
                                 std::to_string(side);
        const ModelInfo info = model(c, side);
        const std::vector<uint8_t> rgb = noise(size_t(h) * w * 3, unsigned(h * 1000 + w));
        expect_same(ds::rt::preprocess_image({rgb.data(), 3, h, w}, info, what), old_path(rgb, h, w, info), what + " RGB");
        // A grey picture (1 channel) is the old path's replicated RGB.
        const std::vector<uint8_t> grey = noise(size_t(h) * w, unsigned(h + w));
        std::vector<uint8_t> replicated;
        for (uint8_t g : grey) replicated.insert(replicated.end(), {g, g, g});
        expect_same(ds::rt::preprocess_image({grey.data(), 1, h, w}, info, what), old_path(replicated, h, w, info),
                    what + " grey");
      }
}

TEST(Preprocess, OutputIsTheModelsInputShape) {
  const std::vector<uint8_t> px = noise(40 * 60 * 3, 7);
  EXPECT_EQ(ds::rt::preprocess_image({px.data(), 3, 40, 60}, model(3, 32), "x").size(), 3u * 32 * 32);
  EXPECT_EQ(ds::rt::preprocess_image({px.data(), 3, 40, 60}, model(1, 28), "x").size(), 28u * 28);
  // A uniform picture stays uniform: (v / 255 - mean) / std everywhere.
  const std::vector<uint8_t> flat(50 * 70 * 3, 200);
  const std::vector<float> x = ds::rt::preprocess_image({flat.data(), 3, 50, 70}, model(3, 32), "flat");
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = i / (32 * 32);
    ASSERT_NEAR(x[i], (200.f / 255.f - (0.2f + 0.1f * float(c))) / (0.3f + 0.05f * float(c)), 1e-5f) << "value " << i;
  }
}

TEST(Preprocess, RefusesWhatItCannotTakeNamingTheFile) {
  const std::vector<uint8_t> px(30 * 30 * 4, 1);
  auto message = [&](const ds::rt::Picture& p, const ModelInfo& m) {
    try {
      ds::rt::preprocess_image(p, m, "cat.png");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ModelInfo wide = model(3, 32);
  wide.in_w = 48;
  EXPECT_EQ(message({px.data(), 3, 30, 30}, wide),
            "cat.png: the model takes 3x32x48 inputs; pictures fit models with square 1- or 3-channel inputs");
  EXPECT_EQ(message({px.data(), 4, 30, 30}, model(3, 32)), "cat.png: a picture has 1 or 3 channels, got 4");
  EXPECT_EQ(message({px.data(), 3, 0, 30}, model(3, 32)), "cat.png: the picture is empty (30x0)");
  EXPECT_EQ(message({px.data(), 3, 20000, 20000}, model(3, 32)), "cat.png: 20000x20000 pixels, more than 178956970");
}

}  // namespace
