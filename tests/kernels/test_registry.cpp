// The kernel table and select_kernel, and reads that stop at the end of each buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "kernel_test_util.h"
#include "kernels/internal.h"

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

#if defined(DS_KERNELS_X86)
// On AVX-512 cores "fastest" is Winograd, and its other layers run on the blocked kernel that
// suits the core's adders: FMA on decoded codes where ZMM adds take the FMA ports (Intel), the
// hybrid where integer and float adds have pipes of their own (AMD).
TEST(Registry, FastestOtherLayersFollowTheCoresAddPipes) {
  if (!find_supported("f32_pgemm_fma_6x16_avx512")) GTEST_SKIP() << "no AVX-512 here";
  const KernelInfo& k = select_kernel("fastest");
  EXPECT_NE(k.winograd, nullptr);
  const bool shared = detail::avx512_adds_share_fma_ports();
  const KernelInfo* other = find_supported(shared ? "f32_pgemm_fma_6x16_avx512" : "f32_pgemm_hybrid_6x16_avx512");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(k.panel, other->panel) << k.name << " on a core whose adds " << (shared ? "share" : "do not share")
                                   << " the FMA ports";
  EXPECT_EQ(k.multiply_free, false);
}

// Without AVX-512, Winograd runs beside plain FMA: the hybrid's 256-bit integer adds lost to it on
// AMD Zen 3 (registry.cpp, kFastestOrder).
TEST(Registry, FastestWithoutAvx512IsWinogradBesideFma) {
  if (find_supported("f32_pgemm_fma_6x16_avx512") || !find_supported("f32_pgemm_fma_6x16_avx2"))
    GTEST_SKIP() << "not an AVX2-only core";
  const KernelInfo& k = select_kernel("fastest");
  EXPECT_STREQ(k.name, "f32_winograd_3x3_fma_avx2");
  EXPECT_NE(k.winograd, nullptr);
  EXPECT_EQ(k.panel, find_supported("f32_pgemm_fma_6x16_avx2")->panel);
}
#endif

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

ModelWeights dense_shift_model(int bits) { return ModelWeights{true, false, bits}; }
const ModelWeights kZeroModel{false, true, 0};

// The kernel's message for `w`, or "" when it can run them.
std::string refusal(const std::string& name, const ModelWeights& w) {
  try {
    select_kernel(name, &w);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// A DenseShift model on a zero-weight kernel decoded every code as a zero-weight one (f32_shiftzero_avx2
// on the smallcnn model: 39% -> 16.55% top-1); the other way round, zero weights became +-1.
TEST(Registry, KernelsRunOnlyTheWeightsTheyRepresent) {
  for (const KernelInfo& k : all_kernels()) {
    if (!k.supported()) continue;
    SCOPED_TRACE(k.name);
    const bool zero_kernel = k.weights == WeightSet::kShiftWithZero;
    EXPECT_EQ(why_cannot_run(k, dense_shift_model(3)).empty(), !zero_kernel);
    // Zero weights: the zero-weight kernels, and the panel kernels that decode them themselves.
    EXPECT_EQ(why_cannot_run(k, kZeroModel).empty(), zero_kernel || &zero_weight_kernel(k) == &k);
    // FP16 products overflow for 5-bit codes (2^15 x 2 = 65536 > 65504) and not for 4-bit ones.
    EXPECT_EQ(why_cannot_run(k, dense_shift_model(4)).empty(), !zero_kernel);
    EXPECT_EQ(why_cannot_run(k, dense_shift_model(5)).empty(), !zero_kernel && !k.fp16_activations);
  }
  const std::string msg = refusal("f32_shiftzero_scalar", dense_shift_model(3));
  EXPECT_NE(msg.find("kernel 'f32_shiftzero_scalar' runs shift-with-zero weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the model has DenseShift weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32_expadd_scalar"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("shiftzero", msg.find("here:")), std::string::npos) << "suggests an unusable kernel: " << msg;
}

// The error's list of kernels is exactly those that can run the model: none it would refuse.
TEST(Registry, RefusalListsOnlyKernelsThatCanRunTheModel) {
  for (const ModelWeights& w : {dense_shift_model(3), dense_shift_model(5), kZeroModel, ModelWeights{true, true, 3}}) {
    const std::vector<const KernelInfo*> can = kernels_for(w);
    ASSERT_FALSE(can.empty());
    for (const KernelInfo& k : all_kernels()) {
      if (!k.supported()) continue;
      const bool usable = std::find(can.begin(), can.end(), &k) != can.end();
      const std::string msg = refusal(k.name, w);
      EXPECT_EQ(msg.empty(), usable) << k.name << ": " << msg;
      if (usable) continue;
      const std::string list = msg.substr(msg.find("kernels that can run this model here: "));
      for (const KernelInfo& e : all_kernels()) {
        const bool listed = (", " + list + ",").find(" " + std::string(e.name) + ",") != std::string::npos;
        EXPECT_EQ(listed, std::find(can.begin(), can.end(), &e) != can.end()) << e.name << " in " << msg;
      }
    }
  }
}

TEST(Registry, Fp16KernelsRefuseFiveBitModelsWithTheReason) {
  bool any = false;
  for (const KernelInfo& k : all_kernels()) {
    if (!k.supported() || !k.fp16_activations) continue;
    any = true;
    const std::string msg = refusal(k.name, dense_shift_model(5));
    EXPECT_NE(msg.find("rounds activations to FP16 and the model has 5-bit DenseShift weights (up to 2^15)"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("overflow FP16 (65504) for activations of 2^1 or more"), std::string::npos) << msg;
    EXPECT_EQ(refusal(k.name, dense_shift_model(4)), "");
    EXPECT_NE(std::string(k.doc).find("at most 4 bits"), std::string::npos) << k.doc;
  }
  if (!any) GTEST_SKIP() << "no FP16 kernel runs on this CPU";
}

// The default and "fastest" choices follow the model: a baseline model gets the zero-weight
// sibling of the kernel a DenseShift model gets, a model with both kinds a kernel that runs both.
TEST(Registry, DefaultChoiceFollowsTheModelsWeights) {
  for (const std::string name : {"", "fastest"}) {
    SCOPED_TRACE(name);
    const KernelInfo& ds = select_kernel(name);
    const ModelWeights ds3 = dense_shift_model(3);
    EXPECT_EQ(&select_kernel(name, &ds3), &ds);
    const KernelInfo& z = select_kernel(name, &kZeroModel);
    EXPECT_EQ(&z, &zero_weight_kernel(ds));
    EXPECT_EQ(why_cannot_run(z, kZeroModel), "");
    const ModelWeights both{true, true, 3};
    EXPECT_EQ(why_cannot_run(select_kernel(name, &both), both), "");
    const ModelWeights ds5 = dense_shift_model(5);
    EXPECT_FALSE(select_kernel(name, &ds5).fp16_activations);
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
