// Feeds every committed input to its harness: fuzz/corpus/<harness> (the seeds, which must
// exist) and fuzz/regressions/<harness> (what a fuzzer once crashed on). Run by ctest, so the
// normal build and the ASan/UBSan stage of scripts/test.sh replay every past finding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <new>

#include "core/container.h"
#include "core/core_test_util.h"
#include "dsm_mutator.h"
#include "harness.h"

// The allocation cap of scripts/fuzz.sh (-malloc_limit_mb=2048) in this test too, so that a
// regression input that once made a reader allocate what a corrupt field claims fails here
// after the fix is undone, instead of passing on a machine with memory to spare.
constexpr size_t kAllocationCap = size_t(2048) << 20;

void* capped_new(size_t n) {
  if (n > kAllocationCap) {
    std::fprintf(stderr, "test_fuzz_replay: an allocation of %zu bytes, over the %zu-byte cap\n", n, kAllocationCap);
    std::abort();
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}

void* operator new(size_t n) { return capped_new(n); }
void* operator new[](size_t n) { return capped_new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace ds::fuzz {

// How ctest and GoogleTest name a harness parameter.
void PrintTo(const NamedTarget& t, std::ostream* os) { *os << t.name; }

namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = DS_FUZZ_DIR;

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// The files of `dir`, sorted (an absent folder has none).
std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

class Replay : public ::testing::TestWithParam<NamedTarget> {};

TEST_P(Replay, EveryCommittedInputIsHandled) {
  const NamedTarget& t = GetParam();
  const auto seeds = files_in(kFuzzDir / "corpus" / t.name);
  ASSERT_FALSE(seeds.empty()) << "no seed corpus in " << (kFuzzDir / "corpus" / t.name);
  auto run = [&](const fs::path& p) {
    SCOPED_TRACE(p.string());
    const std::vector<uint8_t> bytes = read_all(p);
    take_accepted();
    EXPECT_EQ(t.fn(bytes.data(), bytes.size()), 0);  // an undocumented exception fails here
  };
  for (const auto& p : seeds) {
    run(p);
    EXPECT_TRUE(take_accepted()) << p << ": the reader refuses this seed";
  }
  for (const auto& p : files_in(kFuzzDir / "regressions" / t.name)) run(p);
}

INSTANTIATE_TEST_SUITE_P(Harnesses, Replay, ::testing::ValuesIn(targets()),
                         [](const ::testing::TestParamInfo<NamedTarget>& i) { return i.param.name; });

// The dsm mutator's reseal must agree with the container's layout: it leaves a valid model as
// it is, and after a weight byte changes it makes the file load again.
TEST(ResealDsm, RepairsEveryChecksumAndNothingElse) {
  using namespace core::testing;
  const auto seeds = files_in(kFuzzDir / "corpus" / "dsm");
  ASSERT_FALSE(seeds.empty());
  for (const auto& p : seeds) {
    SCOPED_TRACE(p.string());
    const std::vector<uint8_t> good = read_all(p);
    std::vector<uint8_t> b = good;
    reseal_dsm(b.data(), b.size());
    EXPECT_EQ(b, good);

    size_t weights = 0;  // file offset of the WGTS payload
    for (size_t i = 0; i < get32(b, kCountAt); ++i)
      if (std::memcmp(b.data() + entry_at(b, i) + kTagAt, "WGTS", 4) == 0) weights = get64(b, entry_at(b, i) + kOffsetAt);
    ASSERT_GT(weights, 0u);
    b[weights] ^= 0x40;
    b.insert(b.end(), 64, 0);  // and zero padding the header's file size does not count
    EXPECT_THROW(core::Container::from_bytes(b, "damaged"), core::FormatError);
    reseal_dsm(b.data(), b.size());
    EXPECT_NO_THROW(core::Container::from_bytes(b, "resealed"));
  }
}

// The section mutator changes exactly the section it picks, and the container stays valid.
TEST(MutateDsmSection, RewritesAValidContainerAroundTheMutatedSection) {
  const auto seeds = files_in(kFuzzDir / "corpus" / "dsm");
  ASSERT_FALSE(seeds.empty());
  const std::vector<uint8_t> good = read_all(seeds.front());
  const core::Container before = core::Container::from_bytes(good, "before");
  const std::vector<std::string> tags = before.tags();
  auto append_xyz = [](uint8_t* d, size_t n, size_t max) -> size_t {
    if (n + 3 > max) return n;
    std::memcpy(d + n, "xyz", 3);
    return n + 3;
  };
  for (unsigned pick = 0; pick < tags.size(); ++pick) {
    std::vector<uint8_t> b = good;
    b.resize(good.size() + 4096);
    const size_t n = mutate_dsm_section(b.data(), good.size(), b.size(), pick, append_xyz);
    ASSERT_GT(n, 0u);
    b.resize(n);
    const core::Container after = core::Container::from_bytes(b, "after");
    ASSERT_EQ(after.tags(), tags);
    for (const std::string& tag : tags) {
      const core::SectionView x = before.section(tag), y = after.section(tag);
      std::vector<uint8_t> expected(x.data, x.data + x.size);
      if (tag == tags[pick]) expected.insert(expected.end(), {'x', 'y', 'z'});
      EXPECT_EQ(std::vector<uint8_t>(y.data, y.data + y.size), expected) << tag;
    }
  }
  std::vector<uint8_t> junk(100, 7);
  EXPECT_EQ(mutate_dsm_section(junk.data(), junk.size(), junk.size(), 0, append_xyz), 0u);
}

}  // namespace
}  // namespace ds::fuzz
