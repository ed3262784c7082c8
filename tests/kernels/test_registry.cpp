// The kernel table and select_kernel, and reads that stop at the end of each buffer.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "kernel_test_util.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace ds::kernels::test {
namespace {

TEST(Registry, TableIsConsistent) {
  std::set<std::string> names;
  bool scalar = false;
  for (const KernelInfo& k : all_kernels()) {
    EXPECT_TRUE(names.insert(k.name).second) << "duplicate " << k.name;
    EXPECT_NE(k.fn, nullptr) << k.name;
    EXPECT_NE(k.supported, nullptr) << k.name;
    EXPECT_GT(std::string(k.doc).size(), 20u) << k.name;
    if (std::string(k.name) == "f32_expadd_scalar") scalar = k.supported();
  }
  EXPECT_TRUE(scalar);  // the portable reference runs everywhere
  for (const char* n : {"f32_expadd_scalar", "f32_shiftzero_scalar"}) EXPECT_TRUE(names.count(n));
#if defined(__aarch64__)
  // Advanced SIMD is baseline on aarch64: these run on every ARM64 CPU.
  for (const char* n : {"f32_expadd_neon", "f32_shiftzero_neon", "f32_decode_fmla_neon",
                        "f16_expadd_neon"}) {
    EXPECT_NE(find_supported(n), nullptr) << n;
  }
  EXPECT_TRUE(names.count("f16_expadd_fp16arith_neon"));
#endif
}

TEST(Registry, DefaultIsASupportedFloatDenseShiftKernel) {
  const KernelInfo& k = select_kernel();
  EXPECT_TRUE(k.supported());
  EXPECT_EQ(k.weights, WeightSet::kDenseShift);
  EXPECT_FALSE(k.fp16_activations);
  EXPECT_EQ(std::string(k.name).rfind("f32_", 0), 0u);
  EXPECT_TRUE(k.multiply_free);
  if (const KernelInfo* avx512 = find_supported("f32_pgemm_expadd_6x16_avx512")) {
    EXPECT_EQ(&k, avx512);
  } else if (const KernelInfo* avx2 = find_supported("f32_pgemm_expadd_6x16_avx2")) {
    EXPECT_EQ(&k, avx2);
  }
  if (const KernelInfo* neon = find_supported("f32_expadd_neon")) {
    EXPECT_EQ(&k, neon);
  }
}

// Every DenseShift kernel has a supported zero-weight sibling; the panel ones keep the panel form
// and the multiply-free ones stay multiply-free, so baseline models run with equal effort.
TEST(Registry, ZeroWeightKernelMatchesTheDenseShiftOne) {
  for (const KernelInfo& k : all_kernels()) {
    if (!k.supported() || k.weights != WeightSet::kDenseShift) continue;
    SCOPED_TRACE(k.name);
    const KernelInfo& z = zero_weight_kernel(k);
    EXPECT_TRUE(z.supported());
    EXPECT_EQ(k.panel != nullptr, z.panel != nullptr);
    if (k.multiply_free && !k.fp16_activations) {
      EXPECT_TRUE(z.multiply_free);
    }
    if (z.panel == nullptr || z.multiply_free) {
      EXPECT_EQ(z.weights, WeightSet::kShiftWithZero);
    }
  }
}

// "fastest" is a supported float-activation DenseShift kernel; on CPUs with the blocked kernels
// it is one of them.
TEST(Registry, FastestIsASupportedFloatKernel) {
  const KernelInfo& k = select_kernel("fastest");
  EXPECT_TRUE(k.supported());
  EXPECT_EQ(k.weights, WeightSet::kDenseShift);
  EXPECT_FALSE(k.fp16_activations);
  if (find_supported("f32_pgemm_fma_6x16_avx2")) {
    EXPECT_NE(k.panel, nullptr);
  }
}

TEST(Registry, EverySupportedKernelIsSelectableByName) {
  for (const KernelInfo& k : all_kernels()) {
    if (k.supported()) {
      EXPECT_EQ(&select_kernel(k.name), &k);
    }
  }
}

TEST(Registry, UnknownOrUnsupportedNameThrowsWithTheChoices) {
  try {
    select_kernel("f32_nonexistent");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("f32_nonexistent"), std::string::npos) << msg;
    for (const KernelInfo& k : all_kernels()) {
      EXPECT_EQ(msg.find(k.name) != std::string::npos, k.supported()) << k.name << ": " << msg;
    }
  }
  for (const KernelInfo& k : all_kernels()) {
    if (!k.supported()) {
      EXPECT_THROW(select_kernel(k.name), std::invalid_argument) << k.name;
    }
  }
}

#if defined(__linux__)
// Memory whose last byte is followed by an inaccessible page: reading past it faults.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t bytes) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    span_ = (bytes + page_ - 1) / page_ * page_ + page_;
    void* p = mmap(nullptr, span_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    base_ = static_cast<uint8_t*>(p);
    mprotect(base_ + span_ - page_, page_, PROT_NONE);
    data_ = base_ + span_ - page_ - bytes;
  }
  ~GuardedBuffer() { munmap(base_, span_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  uint8_t* data() { return data_; }

 private:
  size_t page_ = 0, span_ = 0;
  uint8_t* base_ = nullptr;
  uint8_t* data_ = nullptr;
};

// Codes, x and y each end exactly at a guard page, over many K (every alignment of the last
// code chunk) and N (every vector remainder): a kernel that reads or writes past any of them
// crashes this test. Results still match the reference.
TEST(AllKernels, NeverTouchPastTheEndOfABuffer) {
  std::mt19937 rng(70);
  const KernelInfo& ref = *find_supported("f32_expadd_scalar");
  for (const KernelInfo& k : all_kernels()) {
    if (!k.supported()) continue;
    SCOPED_TRACE(k.name);
    for (int bits = 2; bits <= 5; ++bits) {
      for (int K = 1; K <= 41; K += 4) {
        const int M = 1 + K % 5, N = 1 + (K * 7 + bits) % 23;
        const PackedCodes p = random_codes(rng, M, K, bits, 0);
        GuardedBuffer codes(p.packed.size()), xb(size_t(K) * N * 4), yb(size_t(M) * N * 4);
        std::memcpy(codes.data(), p.packed.data(), p.packed.size());
        std::vector<float> x(size_t(K) * N);
        for (auto& v : x) v = float(int(rng() % 9) - 4);
        std::memcpy(xb.data(), x.data(), x.size() * 4);
        GemmArgs a = args_for(p, N, reinterpret_cast<float*>(xb.data()),
                              reinterpret_cast<float*>(yb.data()));
        a.codes = codes.data();
        k.fn(a);
        const std::vector<float> want = run(ref, p, N, x);
        std::vector<float> y(want.size());
        std::memcpy(y.data(), yb.data(), y.size() * 4);
        if (k.weights == WeightSet::kDenseShift && !k.fp16_activations) {
          // x has zeros: the one-add kernels give a term below 2^-110 for each, no more.
          for (size_t i = 0; i < y.size(); ++i) {
            if (k.tiny_zero_terms)
              ASSERT_NEAR(want[i], y[i], 1e-30) << "K=" << K;
            else
              ASSERT_EQ(want[i], y[i]) << "K=" << K;
          }
        }
      }
    }
  }
}
#endif

}  // namespace
}  // namespace ds::kernels::test
