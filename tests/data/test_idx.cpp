#include <gtest/gtest.h>

#include <cmath>

#include "data/dataset.h"
#include "data/transform.h"
#include "test_util.h"

namespace ds::data {
namespace {

using testing::TempDir;
using testing::error_of;
using testing::idx_images;
using testing::idx_labels;
using testing::write_bytes;
using testing::write_gz;

constexpr uint32_t kN = 3, kRows = 4, kCols = 5;

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> px(n);
  for (size_t i = 0; i < n; ++i) px[i] = uint8_t((i * 37 + 11) % 256);
  return px;
}

Transform norm_only() {
  Transform t;
  t.mean = {0.5f};
  t.std = {0.25f};
  return t;
}

// Every pixel and label must come back exactly, normalized as (p / 255 - mean) / std.
void expect_round_trip(const Dataset& ds, const std::vector<uint8_t>& px,
                       const std::vector<uint8_t>& labels) {
  ASSERT_EQ(ds.size(), labels.size());
  const Shape s = ds.sample_shape();
  ASSERT_EQ(s.c, 1);
  ASSERT_EQ(s.h, int(kRows));
  ASSERT_EQ(s.w, int(kCols));
  std::vector<float> out(s.numel());
  std::mt19937 rng(1);
  for (size_t i = 0; i < ds.size(); ++i) {
    EXPECT_EQ(ds.load(i, out.data(), rng), labels[i]);
    for (size_t k = 0; k < out.size(); ++k) {
      const float want = (px[i * s.numel() + k] / 255.f - 0.5f) / 0.25f;
      ASSERT_NEAR(out[k], want, 1e-5) << "sample " << i << " pixel " << k;
    }
  }
}

TEST(Idx, RawRoundTrip) {
  TempDir dir;
  const auto px = pattern(kN * kRows * kCols);
  const std::vector<uint8_t> labels = {3, 0, 9};
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, px));
  write_bytes(dir.path / "lbl", idx_labels(labels));
  const auto ds = open_idx(dir.str("img"), dir.str("lbl"), norm_only());
  expect_round_trip(*ds, px, labels);
  EXPECT_EQ(ds->num_classes(), 10);
  const auto names = ds->class_names();
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[0], "0");
  EXPECT_EQ(names[9], "9");
}

TEST(Idx, GzipRoundTrip) {
  TempDir dir;
  const auto px = pattern(kN * kRows * kCols);
  const std::vector<uint8_t> labels = {1, 7, 2};
  write_gz(dir.path / "img.gz", idx_images(kN, kRows, kCols, px));
  write_gz(dir.path / "lbl.gz", idx_labels(labels));
  write_bytes(dir.path / "lbl", idx_labels(labels));
  expect_round_trip(*open_idx(dir.str("img.gz"), dir.str("lbl.gz"), norm_only()), px, labels);
  // Compression is detected per file, not by name.
  expect_round_trip(*open_idx(dir.str("img.gz"), dir.str("lbl"), norm_only()), px, labels);
}

TEST(Idx, ClassCountFollowsLargestLabel) {
  TempDir dir;
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  write_bytes(dir.path / "lbl", idx_labels({0, 14, 2}));
  const auto ds = open_idx(dir.str("img"), dir.str("lbl"), {});
  EXPECT_EQ(ds->num_classes(), 15);
  EXPECT_EQ(ds->class_names().size(), 15u);
}

TEST(Idx, FashionClassNamesFromFolderName) {
  TempDir dir;
  write_bytes(dir.path / "My-FASHION-mnist" / "img", idx_images(1, 2, 2, {1, 2, 3, 4}));
  write_bytes(dir.path / "My-FASHION-mnist" / "lbl", idx_labels({4}));
  const auto names = open_idx(dir.str("My-FASHION-mnist/img"), dir.str("My-FASHION-mnist/lbl"), {})
                         ->class_names();
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[0], "T-shirt/top");
  EXPECT_EQ(names[9], "Ankle boot");
}

TEST(Idx, TruncatedFileNamesFileAndSizes) {
  TempDir dir;
  auto img = idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols));
  img.resize(img.size() - 7);
  write_bytes(dir.path / "img", img);
  write_bytes(dir.path / "lbl", idx_labels({0, 1, 2}));
  const std::string msg = error_of([&] { open_idx(dir.str("img"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("img") + " truncated: expected 76 bytes, got 69"), std::string::npos)
      << msg;

  write_bytes(dir.path / "short", {0, 0, 8, 3, 0, 0});
  const std::string msg2 = error_of([&] { open_idx(dir.str("short"), dir.str("lbl"), {}); });
  EXPECT_NE(msg2.find(dir.str("short") + " truncated: expected 16 bytes, got 6"), std::string::npos)
      << msg2;
}

TEST(Idx, TrailingBytesAreAnError) {
  TempDir dir;
  auto lbl = idx_labels({0, 1, 2});
  lbl.push_back(5);
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  write_bytes(dir.path / "lbl", lbl);
  const std::string msg = error_of([&] { open_idx(dir.str("img"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("lbl")), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected bytes"), std::string::npos) << msg;
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  write_bytes(dir.path / "lbl", idx_labels({0, 1, 2}));
  const std::string msg = error_of([&] { open_idx(dir.str("lbl"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("lbl") + " is not an IDX image file (magic 0x00000801"),
            std::string::npos)
      << msg;
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  const std::string msg2 = error_of([&] { open_idx(dir.str("img"), dir.str("img"), {}); });
  EXPECT_NE(msg2.find("is not an IDX label file (magic 0x00000803"), std::string::npos) << msg2;
}

TEST(Idx, CountMismatch) {
  TempDir dir;
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  write_bytes(dir.path / "lbl", idx_labels({0, 1}));
  const std::string msg = error_of([&] { open_idx(dir.str("img"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find("3 images"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.str("lbl") + " has 2 labels"), std::string::npos) << msg;
}

TEST(Idx, CorruptGzip) {
  TempDir dir;
  write_bytes(dir.path / "lbl", idx_labels({0, 1, 2}));
  write_gz(dir.path / "good.gz", idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  const auto good = testing::read_bytes(dir.path / "good.gz");

  auto flipped = good;  // damage the deflate data: a data error or a CRC mismatch
  for (size_t i = 12; i < flipped.size() - 8; ++i) flipped[i] ^= 0x5a;
  auto cut = good;  // stream ends early
  cut.resize(cut.size() / 2);
  std::vector<uint8_t> garbage = {0x1f, 0x8b, 0x99, 0x42, 0x00, 0x13, 0x37};

  for (const auto& [name, bytes] : {std::pair{"flipped.gz", flipped}, std::pair{"cut.gz", cut},
                                    std::pair{"garbage.gz", garbage}}) {
    write_bytes(dir.path / name, bytes);
    const std::string msg = error_of([&] { open_idx(dir.str(name), dir.str("lbl"), {}); });
    EXPECT_NE(msg.find(dir.str(name) + ": corrupt gzip"), std::string::npos) << msg;
  }
}

TEST(Idx, MissingFile) {
  TempDir dir;
  const std::string msg = error_of([&] { open_idx(dir.str("nope"), dir.str("nope2"), {}); });
  EXPECT_NE(msg.find(dir.str("nope") + ": no such file"), std::string::npos) << msg;
}

TEST(Idx, OpenDatasetFindsSplits) {
  TempDir dir;
  write_gz(dir.path / "train-images-idx3-ubyte.gz", idx_images(kN, kRows, kCols, pattern(60)));
  write_gz(dir.path / "train-labels-idx1-ubyte.gz", idx_labels({0, 1, 2}));
  write_bytes(dir.path / "t10k-images-idx3-ubyte", idx_images(1, kRows, kCols, pattern(20)));
  write_bytes(dir.path / "t10k-labels-idx1-ubyte", idx_labels({5}));
  EXPECT_EQ(detect_kind(dir.str()), Kind::kIdx);
  EXPECT_STREQ(kind_name(Kind::kIdx), "IDX");
  const auto train = open_dataset(dir.str(), Split::kTrain, true);
  EXPECT_EQ(train->size(), 3u);
  EXPECT_NE(train->describe().find("IDX train"), std::string::npos) << train->describe();
  const auto test = open_dataset(dir.str(), Split::kTest, false);
  EXPECT_EQ(test->size(), 1u);
  std::vector<float> out(test->sample_shape().numel());
  std::mt19937 rng(0);
  EXPECT_EQ(test->load(0, out.data(), rng), 5);
  // Eval: Fashion-MNIST normalization only.
  EXPECT_NEAR(out[0], (11 / 255.f - 0.2860f) / 0.3530f, 1e-5);
}

TEST(Idx, MissingTestSplit) {
  TempDir dir;
  write_bytes(dir.path / "train-images-idx3-ubyte", idx_images(1, 2, 2, {1, 2, 3, 4}));
  write_bytes(dir.path / "train-labels-idx1-ubyte", idx_labels({1}));
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest, false); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte[.gz] not found in " + dir.str()), std::string::npos)
      << msg;
}

// Pad-and-crop plus flip may only move pixels: each output must be the input shifted by
// (dy, dx) in [-4, 4]^2 with zero fill, optionally mirrored.
TEST(Idx, PadCropFlipOnlyMovesPixels) {
  TempDir dir;
  constexpr int kSide = 8;
  std::vector<uint8_t> px(kSide * kSide);
  for (int i = 0; i < kSide * kSide; ++i) px[i] = uint8_t(3 * i + 1);  // distinct, nonzero
  write_bytes(dir.path / "img", idx_images(1, kSide, kSide, px));
  write_bytes(dir.path / "lbl", idx_labels({0}));
  const Transform t = standard_transform(Kind::kIdx, true);
  const auto ds = open_idx(dir.str("img"), dir.str("lbl"), t);
  ASSERT_EQ(ds->sample_shape().numel(), px.size());

  int moved = 0, flipped = 0;
  for (uint32_t seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(seed);
    std::vector<float> out(px.size());
    ds->load(0, out.data(), rng);
    std::vector<int> raw(out.size());
    for (size_t k = 0; k < out.size(); ++k) {
      raw[k] = int(std::lround((out[k] * t.std[0] + t.mean[0]) * 255.f));
    }
    bool matched = false;
    for (int f = 0; f < 2 && !matched; ++f) {
      for (int dy = -4; dy <= 4 && !matched; ++dy) {
        for (int dx = -4; dx <= 4 && !matched; ++dx) {
          bool ok = true;
          for (int y = 0; y < kSide && ok; ++y) {
            for (int x = 0; x < kSide && ok; ++x) {
              const int xs = (f ? kSide - 1 - x : x) + dx, ys = y + dy;
              const bool in = ys >= 0 && ys < kSide && xs >= 0 && xs < kSide;
              ok = raw[y * kSide + x] == (in ? px[ys * kSide + xs] : 0);
            }
          }
          if (ok) {
            matched = true;
            moved += dy != 0 || dx != 0;
            flipped += f;
          }
        }
      }
    }
    EXPECT_TRUE(matched) << "seed " << seed;
  }
  EXPECT_GT(moved, 30);
  EXPECT_GT(flipped, 10);
  EXPECT_LT(flipped, 50);
}

TEST(Idx, RealFashionMnist) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << root << " not present";
  ASSERT_EQ(detect_kind(root), Kind::kIdx);
  for (const auto& [split, count] : {std::pair{Split::kTrain, 60000u}, std::pair{Split::kTest, 10000u}}) {
    const auto ds = open_dataset(root, split, split == Split::kTrain);
    ASSERT_EQ(ds->size(), count);
    EXPECT_EQ(ds->num_classes(), 10);
    const Shape s = ds->sample_shape();
    EXPECT_EQ(s.c, 1);
    EXPECT_EQ(s.h, 28);
    EXPECT_EQ(s.w, 28);
    EXPECT_EQ(ds->class_names()[0], "T-shirt/top");
    std::vector<float> out(s.numel());
    std::mt19937 rng(7);
    std::vector<int> per_class(10);
    for (size_t i = 0; i < ds->size(); i += 97) {
      const int label = ds->load(i, out.data(), rng);
      ASSERT_GE(label, 0);
      ASSERT_LT(label, 10);
      ++per_class[label];
    }
    for (int c = 0; c < 10; ++c) EXPECT_GT(per_class[c], 0) << "class " << c;
  }
}

}  // namespace
}  // namespace ds::data
