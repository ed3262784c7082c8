#include <gtest/gtest.h>

#include <cmath>

#include "data/dataset.h"
#include "data/io.h"
#include "data/transform.h"
#include "test_util.h"

namespace ds::data {
namespace {

namespace fs = std::filesystem;
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
  const std::vector<uint8_t> labels = {2, 0, 1};
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, px));
  write_bytes(dir.path / "lbl", idx_labels(labels));
  const auto ds = open_idx(dir.str("img"), dir.str("lbl"), norm_only());
  expect_round_trip(*ds, px, labels);
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"0", "1", "2"}));
}

TEST(Idx, GzipRoundTrip) {
  TempDir dir;
  const auto px = pattern(kN * kRows * kCols);
  const std::vector<uint8_t> labels = {1, 0, 2};
  write_gz(dir.path / "img.gz", idx_images(kN, kRows, kCols, px));
  write_gz(dir.path / "lbl.gz", idx_labels(labels));
  write_bytes(dir.path / "lbl", idx_labels(labels));
  expect_round_trip(*open_idx(dir.str("img.gz"), dir.str("lbl.gz"), norm_only()), px, labels);
  // Compression is detected per file, not by name.
  expect_round_trip(*open_idx(dir.str("img.gz"), dir.str("lbl"), norm_only()), px, labels);
}

// Old rule: max(10, largest label + 1), so one corrupt label of 200 built a 201-class model.
// Now the class count is the largest label + 1 and every class below it must occur.
TEST(Idx, ClassCountIsLargestLabelAndEveryClassMustOccur) {
  TempDir dir;
  write_bytes(dir.path / "img", idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  write_bytes(dir.path / "lbl", idx_labels({0, 200, 2}));
  const std::string msg = error_of([&] { open_idx(dir.str("img"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("lbl") + ": labels 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... (198 in all) "
                                      "never occur, yet the largest label is 200 (corrupt label file?)"),
            std::string::npos)
      << msg;
  write_bytes(dir.path / "lbl", idx_labels({3, 1, 2, 0}));
  write_bytes(dir.path / "img", idx_images(4, 1, 1, {1, 2, 3, 4}));
  EXPECT_EQ(open_idx(dir.str("img"), dir.str("lbl"), {})->num_classes(), 4);
}

TEST(Idx, FashionClassNamesFromFolderName) {
  TempDir dir;
  const fs::path sub = dir.path / "My-FASHION-mnist";
  write_bytes(sub / "img", idx_images(10, 1, 1, pattern(10)));
  write_bytes(sub / "lbl", idx_labels({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const auto names = open_idx((sub / "img").string(), (sub / "lbl").string(), {})->class_names();
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
  write_bytes(dir.path / "t10k-labels-idx1-ubyte", idx_labels({2}));
  EXPECT_EQ(detect_kind(dir.str()), Kind::kIdx);
  EXPECT_STREQ(kind_name(Kind::kIdx), "IDX");
  const auto train = open_dataset(dir.str(), Split::kTrain, {Augment::kCrop, {}, {}});
  EXPECT_EQ(train->size(), 3u);
  EXPECT_NE(train->describe().find("IDX train"), std::string::npos) << train->describe();
  EXPECT_NE(train->describe().find("3 classes, augmentation: pad 4 + random crop)"),
            std::string::npos)
      << train->describe();
  const Normalization norm{{0.5f}, {0.25f}};
  const auto test = open_dataset(dir.str(), Split::kTest, {Augment::kNone, norm, {}});
  EXPECT_EQ(test->size(), 1u);
  EXPECT_EQ(test->num_classes(), 3);  // the training split's
  EXPECT_EQ(test->describe().find("augmentation"), std::string::npos) << test->describe();
  std::vector<float> out(test->sample_shape().numel());
  std::mt19937 rng(0);
  EXPECT_EQ(test->load(0, out.data(), rng), 2);
  // Eval: the given normalization only.
  EXPECT_NEAR(out[0], (11 / 255.f - 0.5f) / 0.25f, 1e-5);
}

TEST(Idx, MissingTestSplit) {
  TempDir dir;
  write_bytes(dir.path / "train-images-idx3-ubyte", idx_images(1, 2, 2, {1, 2, 3, 4}));
  write_bytes(dir.path / "train-labels-idx1-ubyte", idx_labels({0}));
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte[.gz] not found in " + dir.str()), std::string::npos)
      << msg;
}

// A test split alone can be opened with the model's normalization and classes, and without them
// the error says why the training split is wanted.
TEST(Idx, TestSplitWithoutTrainingSplit) {
  TempDir dir;
  write_bytes(dir.path / "t10k-images-idx3-ubyte", idx_images(1, 2, 2, {1, 2, 3, 4}));
  write_bytes(dir.path / "t10k-labels-idx1-ubyte", idx_labels({1}));
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte[.gz] not found in " + dir.str() +
                     " (the IDX test split takes its normalization and classes from the training "
                     "split unless the model's are given)"),
            std::string::npos)
      << msg;
  const auto ds = open_dataset(dir.str(), Split::kTest, {Augment::kNone, {{0.5f}, {0.5f}}, {"a", "b"}});
  EXPECT_EQ(ds->num_classes(), 2);
}

// How a sample relates to its source image: shifted by (dy, dx) in [-4, 4]^2 with zero fill,
// after an optional mirror. Pixel values are distinct, so the match is unique.
struct Moved {
  bool matched = false, flipped = false, shifted = false;
};

Moved match_shift(const std::vector<int>& raw, const std::vector<uint8_t>& px, int side) {
  for (int f = 0; f < 2; ++f) {
    for (int dy = -4; dy <= 4; ++dy) {
      for (int dx = -4; dx <= 4; ++dx) {
        bool ok = true;
        for (int y = 0; y < side && ok; ++y) {
          for (int x = 0; x < side && ok; ++x) {
            const int xs = (f ? side - 1 - x : x) + dx, ys = y + dy;
            const bool in = ys >= 0 && ys < side && xs >= 0 && xs < side;
            ok = raw[y * side + x] == (in ? px[ys * side + xs] : 0);
          }
        }
        if (ok) return {true, f == 1, dy != 0 || dx != 0};
      }
    }
  }
  return {};
}

// An 8x8 image of distinct nonzero values: no mirror or shift of it equals another.
std::vector<uint8_t> asymmetric(int side) {
  std::vector<uint8_t> px(size_t(side) * side);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(3 * i + 1);
  return px;
}

// Draws `draws` augmented samples of image 0 and counts how they moved; each must be a move.
Moved count_moves(const Dataset& ds, const Transform& t, const std::vector<uint8_t>& px, int side,
                  int draws, int* flipped, int* shifted) {
  *flipped = *shifted = 0;
  std::vector<float> out(px.size());
  for (int seed = 0; seed < draws; ++seed) {
    std::mt19937 rng{uint32_t(seed)};
    ds.load(0, out.data(), rng);
    std::vector<int> raw(out.size());
    for (size_t k = 0; k < out.size(); ++k) {
      raw[k] = int(std::lround((out[k] * t.std[0] + t.mean[0]) * 255.f));
    }
    const Moved m = match_shift(raw, px, side);
    if (!m.matched) return m;
    *flipped += m.flipped;
    *shifted += m.shifted;
  }
  return {true, false, false};
}

// Pad-and-crop plus flip may only move pixels.
TEST(Idx, PadCropFlipOnlyMovesPixels) {
  TempDir dir;
  constexpr int kSide = 8;
  const auto px = asymmetric(kSide);
  write_bytes(dir.path / "img", idx_images(1, kSide, kSide, px));
  write_bytes(dir.path / "lbl", idx_labels({0}));
  const Transform t = standard_transform(Kind::kIdx, Augment::kCropFlip, {{0.5f}, {0.25f}});
  const auto ds = open_idx(dir.str("img"), dir.str("lbl"), t);
  ASSERT_EQ(ds->sample_shape().numel(), px.size());
  int flipped = 0, moved = 0;
  EXPECT_TRUE(count_moves(*ds, t, px, kSide, 60, &flipped, &moved).matched);
  EXPECT_GT(moved, 30);
  EXPECT_GT(flipped, 10);
  EXPECT_LT(flipped, 50);
}

// IDX holds digits and letters, which a mirror turns into other symbols (or none): the default
// augmentation of an IDX training split crops but never flips. The old default flipped half the
// samples.
TEST(Idx, DefaultAugmentationNeverMirrors) {
  TempDir dir;
  constexpr int kSide = 8;
  const auto px = asymmetric(kSide);
  write_bytes(dir.path / "train-images-idx3-ubyte", idx_images(1, kSide, kSide, px));
  write_bytes(dir.path / "train-labels-idx1-ubyte", idx_labels({0}));
  EXPECT_EQ(default_augment(Kind::kIdx), Augment::kCrop);
  const Normalization norm{{0.5f}, {0.25f}};
  const Transform t = standard_transform(Kind::kIdx, Augment::kCrop, norm);
  const auto ds = open_dataset(dir.str(), Split::kTrain, {default_augment(Kind::kIdx), norm, {}});
  int flipped = 0, moved = 0;
  EXPECT_TRUE(count_moves(*ds, t, px, kSide, 300, &flipped, &moved).matched);
  EXPECT_EQ(flipped, 0);
  EXPECT_GT(moved, 200);
  // crop-flip, asked for explicitly, does mirror.
  const auto cf = open_dataset(dir.str(), Split::kTrain, {Augment::kCropFlip, norm, {}});
  EXPECT_TRUE(count_moves(*cf, t, px, kSide, 300, &flipped, &moved).matched);
  EXPECT_GT(flipped, 100);
  EXPECT_LT(flipped, 200);
  // none leaves the image as it is.
  const auto none = open_dataset(dir.str(), Split::kTrain, {Augment::kNone, norm, {}});
  EXPECT_TRUE(count_moves(*none, t, px, kSide, 20, &flipped, &moved).matched);
  EXPECT_EQ(flipped + moved, 0);
  // imagenet needs images of varying size.
  const std::string msg =
      error_of([&] { open_dataset(dir.str(), Split::kTrain, {Augment::kImageNet, norm, {}}); });
  EXPECT_NE(msg.find(dir.str() + ": augmentation 'imagenet'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("this is IDX"), std::string::npos) << msg;
}

// A train split whose pixels are 51 and 153 in equal numbers (0.2 and 0.6) has mean 0.4 and
// std 0.2; its test split (all 255) must be normalized with those, not its own statistics.
TEST(Idx, NormalizationIsTheTrainingSplits) {
  TempDir dir;
  std::vector<uint8_t> train_px(4 * 3 * 3);
  for (size_t i = 0; i < train_px.size(); ++i) train_px[i] = i % 2 ? 153 : 51;
  write_gz(dir.path / "train-images-idx3-ubyte.gz", idx_images(4, 3, 3, train_px));
  write_bytes(dir.path / "train-labels-idx1-ubyte", idx_labels({0, 1, 1, 0}));
  write_bytes(dir.path / "t10k-images-idx3-ubyte", idx_images(1, 3, 3, std::vector<uint8_t>(9, 255)));
  write_bytes(dir.path / "t10k-labels-idx1-ubyte", idx_labels({1}));
  const Normalization n = dataset_normalization(dir.str());
  ASSERT_EQ(n.mean.size(), 1u);
  ASSERT_EQ(n.std.size(), 1u);
  EXPECT_NEAR(n.mean[0], 0.4f, 1e-6);
  EXPECT_NEAR(n.std[0], 0.2f, 1e-6);
  const auto test = open_dataset(dir.str(), Split::kTest);
  std::vector<float> out(test->sample_shape().numel());
  std::mt19937 rng(0);
  EXPECT_EQ(test->load(0, out.data(), rng), 1);
  for (float v : out) EXPECT_NEAR(v, (1.f - 0.4f) / 0.2f, 1e-5);
  // The training split itself too.
  const auto train = open_dataset(dir.str(), Split::kTrain);
  train->load(0, out.data(), rng);
  EXPECT_NEAR(out[0], (0.2f - 0.4f) / 0.2f, 1e-5);
  EXPECT_NEAR(out[1], (0.6f - 0.4f) / 0.2f, 1e-5);

  // A training split of one grey value cannot be normalized.
  write_bytes(dir.path / "c" / "train-images-idx3-ubyte", idx_images(1, 2, 2, {7, 7, 7, 7}));
  write_bytes(dir.path / "c" / "train-labels-idx1-ubyte", idx_labels({0}));
  const std::string msg = error_of([&] { dataset_normalization(dir.str("c")); });
  EXPECT_NE(msg.find(dir.str("c") + ": every training pixel of channel 0 has the same value"),
            std::string::npos)
      << msg;
}

// Test labels index the training split's classes (or the given ones): 255 with 4 classes is an
// error naming the file, the record and the label, not a label the model cannot represent.
TEST(Idx, TestLabelsOutsideTheClassesAreErrors) {
  TempDir dir;
  write_bytes(dir.path / "train-images-idx3-ubyte", idx_images(4, 1, 1, {1, 2, 3, 4}));
  write_bytes(dir.path / "train-labels-idx1-ubyte", idx_labels({0, 1, 2, 3}));
  write_bytes(dir.path / "t10k-images-idx3-ubyte", idx_images(3, 1, 1, {1, 2, 3}));
  write_bytes(dir.path / "t10k-labels-idx1-ubyte", idx_labels({1, 3, 255}));
  const std::string lbl = dir.str("t10k-labels-idx1-ubyte");
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest); });
  EXPECT_NE(msg.find(lbl + ": record 2 has label 255, outside [0, 4) (the training labels " +
                     dir.str("train-labels-idx1-ubyte") + ")"),
            std::string::npos)
      << msg;
  // Given classes (a model's) are what labels index.
  write_bytes(dir.path / "t10k-labels-idx1-ubyte", idx_labels({1, 3, 2}));
  OpenOptions opt;
  opt.classes = {"a", "b", "c"};
  const std::string msg2 = error_of([&] { open_dataset(dir.str(), Split::kTest, opt); });
  EXPECT_NE(msg2.find(lbl + ": record 1 has label 3, outside [0, 3) (the model's 3 classes)"),
            std::string::npos)
      << msg2;
  opt.classes = {"a", "b", "c", "d", "e"};
  const auto ds = open_dataset(dir.str(), Split::kTest, opt);
  EXPECT_EQ(ds->num_classes(), 5);
  EXPECT_EQ(ds->class_names()[4], "e");
  opt.classes = {"a", "b", "a"};
  const std::string msg3 = error_of([&] { open_dataset(dir.str(), Split::kTest, opt); });
  EXPECT_NE(msg3.find("names a class twice"), std::string::npos) << msg3;
}

// A 4 GiB claim costs nothing: the old reader sized its buffer from the gzip trailer's ISIZE.
TEST(Idx, GzipSizeClaimIsNotAllocated) {
  TempDir dir;
  write_bytes(dir.path / "lbl", idx_labels({0, 1, 2}));
  auto gz = testing::gzip_bytes(idx_images(kN, kRows, kCols, pattern(kN * kRows * kCols)));
  for (size_t k = 0; k < 4; ++k) gz[gz.size() - 4 + k] = 0xff;  // ISIZE = 4 GiB - 1
  write_bytes(dir.path / "img.gz", gz);
  const long before = testing::peak_rss_mib();
  const std::string msg = error_of([&] { open_idx(dir.str("img.gz"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("img.gz") + ": corrupt gzip"), std::string::npos) << msg;
  EXPECT_LT(testing::peak_rss_mib() - before, 64);
}

// A gzip bomb after a valid header: 1 GiB of zeros (concatenated members, 1 MB on disk) behind a
// header that promises one 1x1 image. Reading stops just past what the header implies.
TEST(Idx, GzipBombAfterHeaderIsRejectedEarly) {
  TempDir dir;
  write_bytes(dir.path / "lbl", idx_labels({0}));
  auto bomb = testing::gzip_bytes(idx_images(1, 1, 1, {0}));
  const auto zeros = testing::gzip_bytes(std::vector<uint8_t>(size_t(8) << 20));
  for (int m = 0; m < 128; ++m) bomb.insert(bomb.end(), zeros.begin(), zeros.end());
  write_bytes(dir.path / "bomb.gz", bomb);
  const long before = testing::peak_rss_mib();
  const std::string msg = error_of([&] { open_idx(dir.str("bomb.gz"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("bomb.gz") + " has more than 1048576 unexpected bytes after the data "
                                          "(its header implies 17 bytes decompressed)"),
            std::string::npos)
      << msg;
  EXPECT_LT(testing::peak_rss_mib() - before, 64);

  // gunzip() itself stops at the caller's limit.
  const std::string msg2 = error_of([&] { detail::gunzip(bomb, "bomb.gz", uint64_t(1) << 20); });
  EXPECT_NE(msg2.find("bomb.gz: decompresses to more than 1 MiB"), std::string::npos) << msg2;
  EXPECT_LT(testing::peak_rss_mib() - before, 64);
  const auto small = detail::gunzip(testing::gzip_bytes({1, 2, 3}), "small.gz", 3);
  EXPECT_EQ(small, (std::vector<uint8_t>{1, 2, 3}));
}

// Header dimensions are capped before anything is read or allocated from them.
TEST(Idx, HeaderSizeCap) {
  TempDir dir;
  write_bytes(dir.path / "lbl", idx_labels({0}));
  write_bytes(dir.path / "img", idx_images(60000, 65535, 65535, {1, 2, 3}));
  const std::string msg = error_of([&] { open_idx(dir.str("img"), dir.str("lbl"), {}); });
  EXPECT_NE(msg.find(dir.str("img") + ": corrupt IDX header? its dimensions imply more than 4 GiB"),
            std::string::npos)
      << msg;
  // Under the cap, a short file is "truncated", not an allocation of what the header claims.
  write_gz(dir.path / "img.gz", idx_images(1000, 1000, 1000, {1, 2, 3}));
  const long before = testing::peak_rss_mib();
  const std::string msg2 = error_of([&] { open_idx(dir.str("img.gz"), dir.str("lbl"), {}); });
  EXPECT_NE(msg2.find(dir.str("img.gz") + " truncated: expected 1000000016 bytes, got 19"),
            std::string::npos)
      << msg2;
  EXPECT_LT(testing::peak_rss_mib() - before, 64);
}

TEST(Idx, RealFashionMnist) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << root << " not present";
  ASSERT_EQ(detect_kind(root), Kind::kIdx);
  // The statistics torchvision recipes quote for Fashion-MNIST, now measured.
  const Normalization n = dataset_normalization(root);
  EXPECT_NEAR(n.mean[0], 0.2860f, 5e-5);
  EXPECT_NEAR(n.std[0], 0.3530f, 5e-5);
  for (const auto& [split, count] : {std::pair{Split::kTrain, 60000u}, std::pair{Split::kTest, 10000u}}) {
    const Augment augment = split == Split::kTrain ? default_augment(Kind::kIdx) : Augment::kNone;
    const auto ds = open_dataset(root, split, {augment, {}, {}});
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
