#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "data/dataset.h"
#include "data/transform.h"
#include "test_util.h"

namespace ds::data {
namespace {

using testing::TempDir;
using testing::error_of;
using testing::write_bytes;

uint8_t pixel(int record, int c, int y, int x) { return uint8_t((record * 31 + c * 7 + y * 3 + x) % 256); }

// One record per label list entry; `labels` holds the 1 (CIFAR-10) or 2 (CIFAR-100) label bytes.
std::vector<uint8_t> records(const std::vector<std::vector<uint8_t>>& labels, int first = 0) {
  std::vector<uint8_t> v;
  for (size_t r = 0; r < labels.size(); ++r) {
    v.insert(v.end(), labels[r].begin(), labels[r].end());
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) v.push_back(pixel(first + int(r), c, y, x));
  }
  return v;
}

Transform norm3() {
  Transform t;
  t.mean = {0.5f, 0.4f, 0.3f};
  t.std = {0.25f, 0.2f, 0.1f};
  return t;
}

void expect_round_trip(const Dataset& ds, const std::vector<int>& labels, const Transform& t) {
  ASSERT_EQ(ds.size(), labels.size());
  const Shape s = ds.sample_shape();
  ASSERT_EQ(s.c, 3);
  ASSERT_EQ(s.h, 32);
  ASSERT_EQ(s.w, 32);
  std::vector<float> out(s.numel());
  std::mt19937 rng(3);
  for (size_t i = 0; i < ds.size(); ++i) {
    EXPECT_EQ(ds.load(i, out.data(), rng), labels[i]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const float want = (pixel(int(i), c, y, x) / 255.f - t.mean[c]) / t.std[c];
          ASSERT_NEAR(out[(c * 32 + y) * 32 + x], want, 1e-5) << i << " " << c << " " << y << " " << x;
        }
  }
}

TEST(Cifar, Cifar10RoundTripAcrossFiles) {
  TempDir dir;
  write_bytes(dir.path / "a.bin", records({{3}, {9}}));
  write_bytes(dir.path / "b.bin", records({{0}, {5}, {1}}, 2));
  const auto ds = open_cifar({dir.str("a.bin"), dir.str("b.bin")}, false, norm3());
  expect_round_trip(*ds, {3, 9, 0, 5, 1}, norm3());
  EXPECT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->class_names()[7], "7");  // no batches.meta.txt: numbers
}

TEST(Cifar, Cifar100UsesFineLabel) {
  TempDir dir;
  write_bytes(dir.path / "train.bin", records({{19, 99}, {0, 0}, {7, 42}}));
  const auto ds = open_cifar({dir.str("train.bin")}, true, norm3());
  expect_round_trip(*ds, {99, 0, 42}, norm3());
  EXPECT_EQ(ds->num_classes(), 100);
  EXPECT_EQ(ds->class_names().size(), 100u);
}

TEST(Cifar, ClassNamesFromMetaFiles) {
  TempDir dir;
  write_bytes(dir.path / "c10" / "x.bin", records({{1}}));
  std::string meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
  write_bytes(dir.path / "c10" / "batches.meta.txt", {meta.begin(), meta.end()});
  EXPECT_EQ(open_cifar({dir.str("c10/x.bin")}, false, {})->class_names()[9], "truck");

  write_bytes(dir.path / "c100" / "x.bin", records({{1, 2}}));
  std::string fine;
  for (int c = 0; c < 100; ++c) fine += "name" + std::to_string(c) + "\r\n";
  write_bytes(dir.path / "c100" / "fine_label_names.txt", {fine.begin(), fine.end()});
  EXPECT_EQ(open_cifar({dir.str("c100/x.bin")}, true, {})->class_names()[57], "name57");

  meta = "airplane\nautomobile\n";
  write_bytes(dir.path / "c10" / "batches.meta.txt", {meta.begin(), meta.end()});
  const std::string msg = error_of([&] { open_cifar({dir.str("c10/x.bin")}, false, {}); });
  EXPECT_NE(msg.find("batches.meta.txt lists 2 class names, expected 10"), std::string::npos) << msg;
}

TEST(Cifar, BadSizeNamesFile) {
  TempDir dir;
  auto bytes = records({{1}, {2}});
  bytes.resize(bytes.size() + 5);
  write_bytes(dir.path / "data_batch_1.bin", bytes);
  const std::string msg = error_of([&] { open_cifar({dir.str("data_batch_1.bin")}, false, {}); });
  EXPECT_NE(msg.find(dir.str("data_batch_1.bin") + ": size 6151 is not a multiple of the 3073-byte"),
            std::string::npos)
      << msg;
  // A CIFAR-10 file read as CIFAR-100 has the wrong record size too.
  write_bytes(dir.path / "c10.bin", records({{1}, {2}}));
  const std::string msg2 = error_of([&] { open_cifar({dir.str("c10.bin")}, true, {}); });
  EXPECT_NE(msg2.find("3074-byte CIFAR-100 record"), std::string::npos) << msg2;
}

TEST(Cifar, LabelOutOfRange) {
  TempDir dir;
  write_bytes(dir.path / "c10.bin", records({{1}, {10}}));
  const std::string msg = error_of([&] { open_cifar({dir.str("c10.bin")}, false, {}); });
  EXPECT_NE(msg.find(dir.str("c10.bin") + ": record 1 has label 10, outside [0, 10)"),
            std::string::npos)
      << msg;
  write_bytes(dir.path / "c100.bin", records({{3, 100}}));
  const std::string msg2 = error_of([&] { open_cifar({dir.str("c100.bin")}, true, {}); });
  EXPECT_NE(msg2.find(dir.str("c100.bin") + ": record 0 has label 100, outside [0, 100)"),
            std::string::npos)
      << msg2;
}

// Every named batch must hold records: the old reader skipped an empty one among others (a
// failed download of data_batch_3 trained on 4/5 of CIFAR-10 without a word).
TEST(Cifar, EmptyFileIsAnError) {
  TempDir dir;
  write_bytes(dir.path / "empty.bin", {});
  const std::string msg = error_of([&] { open_cifar({dir.str("empty.bin")}, false, {}); });
  EXPECT_NE(msg.find(dir.str("empty.bin") + ": empty file, expected CIFAR-10 records"),
            std::string::npos)
      << msg;
  write_bytes(dir.path / "a.bin", records({{1}, {2}}));
  const std::string msg2 =
      error_of([&] { open_cifar({dir.str("a.bin"), dir.str("empty.bin")}, false, {}); });
  EXPECT_NE(msg2.find(dir.str("empty.bin") + ": empty file"), std::string::npos) << msg2;
}

// 3073 CIFAR-100 records (3074 bytes each) are also 3074 whole CIFAR-10 records. With dark
// pixels (all below 10) every CIFAR-10 "label" is in range, so the old reader accepted the file
// as 3074 records that each begin one byte off: garbage images, plausible labels.
TEST(Cifar, FileOfBothRecordSizesIsRefused) {
  TempDir dir;
  std::vector<uint8_t> bytes;
  for (int r = 0; r < 3073; ++r) {
    bytes.push_back(uint8_t(r % 10));  // coarse
    bytes.push_back(uint8_t(r % 7));   // fine
    for (size_t k = 0; k < 3072; ++k) bytes.push_back(uint8_t((r + k) % 10));
  }
  write_bytes(dir.path / "data_batch_1.bin", bytes);
  const std::string msg = error_of([&] { open_cifar({dir.str("data_batch_1.bin")}, false, {}); });
  EXPECT_NE(msg.find(dir.str("data_batch_1.bin") + ": 9446402 bytes are whole 3073-byte CIFAR-10 "
                                                   "records and also whole 3074-byte CIFAR-100 "
                                                   "records with valid labels"),
            std::string::npos)
      << msg;
  // The file cannot say which it is, so neither reading is trusted.
  const std::string msg2 = error_of([&] { open_cifar({dir.str("data_batch_1.bin")}, true, {}); });
  EXPECT_NE(msg2.find("cannot tell which it holds"), std::string::npos) << msg2;
}

TEST(Cifar, Cifar100CoarseLabelOutOfRange) {
  TempDir dir;
  write_bytes(dir.path / "c100.bin", records({{3, 5}, {20, 5}}));
  const std::string msg = error_of([&] { open_cifar({dir.str("c100.bin")}, true, {}); });
  EXPECT_NE(msg.find(dir.str("c100.bin") + ": record 1 has coarse label 20, outside [0, 20)"),
            std::string::npos)
      << msg;
}

// Labels must index the given classes (a model's) too: a 5-class model cannot score label 7.
TEST(Cifar, LabelsIndexTheGivenClasses) {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) {
    write_bytes(dir.path / ("data_batch_" + std::to_string(b) + ".bin"), records({{uint8_t(b)}}));
  }
  write_bytes(dir.path / "test_batch.bin", records({{4}, {7}}));
  OpenOptions opt;
  opt.classes = {"a", "b", "c", "d", "e"};
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTest, opt); });
  EXPECT_NE(msg.find(dir.str("test_batch.bin") + ": record 1 has label 7, outside [0, 5) (the "
                                                 "model's 5 classes)"),
            std::string::npos)
      << msg;
  opt.classes = {"a", "b", "c", "d", "e", "f", "g", "h"};
  const auto ds = open_dataset(dir.str(), Split::kTest, opt);
  EXPECT_EQ(ds->num_classes(), 8);
  EXPECT_EQ(ds->class_names()[7], "h");
}

// Per-channel statistics over every training record of every batch: channel 0 alternates 0 and
// 255 (mean 0.5, std 0.5), channel 1 alternates 51 and 153 (0.4, 0.2), channel 2 is 102 in one
// batch and 204 in the other (0.6, 0.2).
TEST(Cifar, NormalizationOverAllTrainingBatches) {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) {
    std::vector<uint8_t> v;
    for (int r = 0; r < 2; ++r) {
      v.push_back(uint8_t(r));
      for (int k = 0; k < 1024; ++k) v.push_back(k % 2 ? 255 : 0);
      for (int k = 0; k < 1024; ++k) v.push_back(k % 2 ? 153 : 51);
      for (int k = 0; k < 1024; ++k) v.push_back(r == 0 ? 102 : 204);
    }
    write_bytes(dir.path / ("data_batch_" + std::to_string(b) + ".bin"), v);
  }
  write_bytes(dir.path / "test_batch.bin", records({{1}}));
  const Normalization n = dataset_normalization(dir.str());
  ASSERT_EQ(n.mean.size(), 3u);
  ASSERT_EQ(n.std.size(), 3u);
  const float mean[] = {0.5f, 0.4f, 0.6f}, sd[] = {0.5f, 0.2f, 0.2f};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(n.mean[c], mean[c], 1e-6) << c;
    EXPECT_NEAR(n.std[c], sd[c], 1e-6) << c;
  }
}

TEST(Cifar, DetectAndOpenCifar10) {
  TempDir dir;
  const auto sub = dir.path / "cifar-10-batches-bin";
  for (int b = 1; b <= 5; ++b) {
    write_bytes(sub / ("data_batch_" + std::to_string(b) + ".bin"), records({{uint8_t(b)}}));
  }
  write_bytes(sub / "test_batch.bin", records({{4}, {2}}));
  EXPECT_EQ(detect_kind(dir.str()), Kind::kCifar10);
  EXPECT_EQ(detect_kind(sub.string()), Kind::kCifar10);
  const auto train = open_dataset(dir.str(), Split::kTrain, {Augment::kCropFlip, {}, {}});
  EXPECT_EQ(train->size(), 5u);
  const auto test = open_dataset(dir.str(), Split::kTest);
  ASSERT_EQ(test->size(), 2u);
  // Eval: the training split's normalization, pixels untouched.
  const Transform t =
      standard_transform(Kind::kCifar10, Augment::kNone, dataset_normalization(dir.str()));
  expect_round_trip(*test, {4, 2}, t);

  std::filesystem::remove(sub / "data_batch_3.bin");
  const std::string msg = error_of([&] { open_dataset(dir.str(), Split::kTrain); });
  EXPECT_NE(msg.find("data_batch_3.bin not found in " + sub.string()), std::string::npos) << msg;
}

TEST(Cifar, DetectAndOpenCifar100) {
  TempDir dir;
  write_bytes(dir.path / "cifar-100-binary" / "train.bin", records({{1, 2}, {3, 4}, {5, 6}}));
  write_bytes(dir.path / "cifar-100-binary" / "test.bin", records({{1, 77}}));
  EXPECT_EQ(detect_kind(dir.str()), Kind::kCifar100);
  EXPECT_EQ(open_dataset(dir.str(), Split::kTrain, {Augment::kCropFlip, {}, {}})->size(), 3u);
  const auto test = open_dataset(dir.str(), Split::kTest);
  EXPECT_NE(test->describe().find("CIFAR-100 test"), std::string::npos) << test->describe();
  std::vector<float> out(test->sample_shape().numel());
  std::mt19937 rng(0);
  EXPECT_EQ(test->load(0, out.data(), rng), 77);
}

// Training augmentation keeps the size and only moves pixels: every output value is an input
// value of the same channel or the zero padding.
TEST(Cifar, PadCropFlipValuesComeFromImageOrPadding) {
  TempDir dir;
  write_bytes(dir.path / "x.bin", records({{1}}, 5));
  const Transform t = standard_transform(Kind::kCifar10, Augment::kCropFlip, {norm3().mean, norm3().std});
  const auto ds = open_cifar({dir.str("x.bin")}, false, t);
  ASSERT_EQ(ds->sample_shape().numel(), 3u * 32 * 32);
  std::set<int> allowed[3];
  for (int c = 0; c < 3; ++c) {
    allowed[c].insert(0);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) allowed[c].insert(pixel(5, c, y, x));
  }
  std::vector<float> out(ds->sample_shape().numel());
  int padded = 0;
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    ds->load(0, out.data(), rng);
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 32 * 32; ++k) {
        const float raw = (out[c * 1024 + k] * t.std[c] + t.mean[c]) * 255.f;
        const int v = int(std::lround(raw));
        ASSERT_NEAR(raw, v, 1e-3);
        ASSERT_TRUE(allowed[c].count(v)) << "value " << v << " channel " << c;
        padded += v == 0 && pixel(5, c, k / 32, k % 32) != 0;
      }
    }
  }
  EXPECT_GT(padded, 0);
}

}  // namespace
}  // namespace ds::data
