#include <gtest/gtest.h>

#include <memory>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <thread>

#include "data/dataset.h"
#include "data/transform.h"
#include "test_util.h"

namespace ds::data {
namespace {

// Sample i writes its index, then values drawn from the RNG the loader hands it, so both the
// order and the per-sample RNG streams are visible in the batch.
class FakeDataset : public Dataset {
 public:
  explicit FakeDataset(size_t n, long fail_at = -1, int delay_us = 0)
      : n_(n), fail_at_(fail_at), delay_us_(delay_us) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return 5; }
  Shape sample_shape() const override { return {1, 2, 3}; }
  int load(size_t i, float* out, std::mt19937& rng) const override {
    if (delay_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
    if (long(i) == fail_at_) throw DataError("fake.bin: sample " + std::to_string(i) + " is broken");
    out[0] = float(i);
    for (int k = 1; k < 6; ++k) out[k] = float(uniform01(rng));
    return int(i % 5);
  }
  std::vector<std::string> class_names() const override { return {"a", "b", "c", "d", "e"}; }
  std::string describe() const override { return "fake"; }

 private:
  size_t n_;
  long fail_at_;
  int delay_us_;
};

std::vector<Batch> epoch(Loader& l, int e) {
  l.start_epoch(e);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

std::vector<int> indices(const std::vector<Batch>& batches) {
  std::vector<int> v;
  for (const Batch& b : batches)
    for (int k = 0; k < b.n; ++k) v.push_back(int(b.x[size_t(k) * b.shape.numel()]));
  return v;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].n != b[i].n || a[i].y != b[i].y || a[i].x.size() != b[i].x.size()) return false;
    if (std::memcmp(a[i].x.data(), b[i].x.data(), a[i].x.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

TEST(Loader, EverySampleOncePerEpoch) {
  FakeDataset ds(103);
  Loader l(ds, 10, true, false, 42, 2);
  EXPECT_EQ(l.batches_per_epoch(), 11u);
  for (int e = 0; e < 3; ++e) {
    const auto batches = epoch(l, e);
    ASSERT_EQ(batches.size(), 11u);
    EXPECT_EQ(batches.back().n, 3);
    for (const Batch& b : batches) {
      EXPECT_EQ(b.shape.numel(), 6u);
      ASSERT_EQ(b.x.size(), size_t(b.n) * 6);
      ASSERT_EQ(b.y.size(), size_t(b.n));
      for (int k = 0; k < b.n; ++k) EXPECT_EQ(b.y[k], int64_t(b.x[k * 6]) % 5);
    }
    auto idx = indices(batches);
    std::sort(idx.begin(), idx.end());
    std::vector<int> want(103);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(idx, want) << "epoch " << e;
  }
}

TEST(Loader, ShardsCoverEverySampleOncePerEpochAndJoinToTheUnshardedBatch) {
  // 103 samples, global batch 12: 8 full batches and one of 7, padded to a multiple of the ranks.
  FakeDataset ds(103);
  Loader whole(ds, 12, true, false, 5, 0);
  for (int world : {2, 3, 4}) {
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int r = 0; r < world; ++r) {
      ranks.push_back(std::make_unique<Loader>(ds, 12, true, false, 5, r % 2));
      ranks.back()->shard(r, world);
    }
    for (int e = 0; e < 2; ++e) {
      const auto full = epoch(whole, e);
      std::vector<std::vector<Batch>> parts;
      for (auto& l : ranks) parts.push_back(epoch(*l, e));
      std::vector<int> seen;
      for (size_t b = 0; b < full.size(); ++b) {
        std::vector<int> joined;
        for (int r = 0; r < world; ++r) {
          ASSERT_EQ(parts[size_t(r)].size(), full.size());
          const Batch& part = parts[size_t(r)][b];
          EXPECT_EQ(part.n, parts[0][b].n) << "ranks must get equal counts";
          for (int v : indices({part})) joined.push_back(v);
        }
        const std::vector<int> want = indices({full[b]});
        // The joined parts are the unsharded batch, plus pads (the epoch's first samples) at the end.
        ASSERT_GE(joined.size(), want.size());
        EXPECT_LT(joined.size() - want.size(), size_t(world));
        EXPECT_TRUE(std::equal(want.begin(), want.end(), joined.begin())) << "world " << world << " batch " << b;
        seen.insert(seen.end(), joined.begin(), joined.begin() + long(want.size()));
        // Augmentation draws depend on the position, not on the rank: the same values as unsharded.
        for (int r = 0, k = 0; r < world; ++r)
          for (int i = 0; i < parts[size_t(r)][b].n && k < full[b].n; ++i, ++k)
            EXPECT_EQ(parts[size_t(r)][b].x[size_t(i) * 6 + 1], full[b].x[size_t(k) * 6 + 1]);
      }
      std::sort(seen.begin(), seen.end());
      std::vector<int> all(103);
      std::iota(all.begin(), all.end(), 0);
      EXPECT_EQ(seen, all) << "every sample exactly once (world " << world << ", epoch " << e << ")";
    }
  }
  Loader odd(ds, 10, true, false, 5, 0);
  EXPECT_THROW(odd.shard(0, 3), std::invalid_argument);  // 10 does not split over 3 ranks
  EXPECT_THROW(odd.shard(2, 2), std::invalid_argument);
}

TEST(Loader, WorkersGiveBitwiseTheSameBatches) {
  FakeDataset ds(57);
  Loader inline_loader(ds, 8, true, false, 7, 0);
  Loader threaded(ds, 8, true, false, 7, 3);
  for (int e = 0; e < 3; ++e) EXPECT_TRUE(same(epoch(inline_loader, e), epoch(threaded, e))) << e;
}

TEST(Loader, OrderDependsOnEpochAndSeedOnly) {
  FakeDataset ds(64);
  Loader a(ds, 16, true, false, 1, 2), b(ds, 16, true, false, 1, 0), c(ds, 16, true, false, 2, 2);
  const auto e0 = epoch(a, 0), e1 = epoch(a, 1);
  EXPECT_NE(indices(e0), indices(e1));
  EXPECT_TRUE(same(e0, epoch(a, 0)));  // replaying an epoch replays its data
  EXPECT_TRUE(same(e1, epoch(b, 1)));  // a second loader with the same seed agrees
  EXPECT_NE(indices(e1), indices(epoch(c, 1)));
}

TEST(Loader, NoShuffleKeepsDatasetOrder) {
  FakeDataset ds(10);
  Loader l(ds, 4, false, false, 0, 2);
  std::vector<int> want(10);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(indices(epoch(l, 5)), want);
}

TEST(Loader, DropLast) {
  FakeDataset ds(10);
  Loader keep(ds, 4, true, false, 3, 1), drop(ds, 4, true, true, 3, 1);
  EXPECT_EQ(keep.batches_per_epoch(), 3u);
  EXPECT_EQ(drop.batches_per_epoch(), 2u);
  const auto k = epoch(keep, 0), d = epoch(drop, 0);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[2].n, 2);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].n, 4);
  EXPECT_EQ(d[1].n, 4);
  EXPECT_TRUE(same({k[0], k[1]}, d));
}

TEST(Loader, WorkerErrorReachesNext) {
  FakeDataset ds(40, 13);
  for (int workers : {0, 3}) {
    Loader l(ds, 4, false, false, 0, workers);
    l.start_epoch(0);
    Batch b;
    int delivered = 0;
    const std::string msg = testing::error_of([&] {
      while (l.next(b)) ++delivered;
    });
    EXPECT_NE(msg.find("fake.bin: sample 13 is broken"), std::string::npos) << msg;
    EXPECT_EQ(delivered, 3) << "workers " << workers;  // batches 0-2 came through in order
  }
}

TEST(Loader, RestartAndDestroyMidEpoch) {
  FakeDataset ds(2000, -1, 500);
  const auto t0 = std::chrono::steady_clock::now();
  {
    Loader l(ds, 8, true, false, 0, 4);
    l.start_epoch(0);
    Batch b;
    ASSERT_TRUE(l.next(b));
    l.start_epoch(1);  // abandon epoch 0
    ASSERT_TRUE(l.next(b));
    ASSERT_TRUE(l.next(b));
  }  // destroyed with workers busy
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0);  // a full epoch would take 2000 * 0.5 ms / 4 threads = 0.25 s at least
}

TEST(Loader, NextBeforeStartEpochIsALogicError) {
  FakeDataset ds(3);
  Loader l(ds, 2, false, false, 0, 0);
  Batch b;
  EXPECT_THROW(l.next(b), std::logic_error);
}

// End to end with a real reader and augmentation: threads change nothing.
TEST(Loader, CifarWithAugmentationIsDeterministic) {
  testing::TempDir dir;
  std::vector<uint8_t> bytes;
  for (int r = 0; r < 21; ++r) {
    bytes.push_back(uint8_t(r % 10));
    for (int k = 0; k < 3072; ++k) bytes.push_back(uint8_t((r * 13 + k) % 251));
  }
  testing::write_bytes(dir.path / "b.bin", bytes);
  const Normalization norm{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
  const auto ds = open_cifar({dir.str("b.bin")}, false,
                             standard_transform(Kind::kCifar10, Augment::kCropFlip, norm));
  Loader a(*ds, 5, true, false, 9, 0), b(*ds, 5, true, false, 9, 2);
  for (int e = 0; e < 2; ++e) EXPECT_TRUE(same(epoch(a, e), epoch(b, e)));
}

}  // namespace
}  // namespace ds::data
