// A model trained and exported on x86 (the README demo: smallcnn, DenseShift 3-bit,
// Fashion-MNIST) must give the logits x86 gave, on every platform and kernel. The expected
// logits were written on x86 by this test with DS_WRITE_EXPECTED=1; under qemu on aarch64 it
// checks that the NEON kernels reproduce them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace ds {
namespace {

const std::string kDir = DS_TEST_DATA_DIR;
const std::string kModel = kDir + "/smallcnn_fmnist_ds3.dsm";
const std::string kExpected = kDir + "/smallcnn_fmnist_ds3.logits";
constexpr int kImages = 8;

// Inputs from a fixed integer recipe (no <random> distributions: those may differ between
// standard libraries), roughly the range of normalized Fashion-MNIST pixels, with zeros.
std::vector<float> inputs(size_t n) {
  std::vector<float> x(n);
  uint32_t s = 12345;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    const uint32_t r = s >> 8;
    v = (r % 5 == 0) ? -0.8102f : float(r % 1000) / 300.f - 0.81f;
  }
  return x;
}

TEST(ReferenceModel, LogitsMatchThoseComputedOnX86) {
  rt::Engine ref = rt::Engine::load(kModel, rt::EngineOptions{"f32_expadd_scalar", 1});
  const auto& info = ref.info();
  const size_t dim = size_t(info.in_c) * info.in_h * info.in_w, C = info.num_classes;
  const std::vector<float> x = inputs(dim * kImages);

  if (std::getenv("DS_WRITE_EXPECTED")) {
    std::ofstream out(kExpected);
    out.precision(9);
    for (float v : ref.run(x.data(), kImages)) out << v << "\n";
    GTEST_SKIP() << "wrote " << kExpected;
  }
  std::ifstream in(kExpected);
  ASSERT_TRUE(in) << "missing " << kExpected;
  std::vector<float> expected;
  for (float v; in >> v;) expected.push_back(v);
  ASSERT_EQ(expected.size(), C * kImages);

  int checked = 0;
  for (const auto& k : kernels::all_kernels()) {
    if (k.weights != kernels::WeightSet::kDenseShift || !k.supported() || k.fp16_activations) continue;
    rt::Engine e = rt::Engine::load(kModel, rt::EngineOptions{k.name, 2});
    const std::vector<float> y = e.run(x.data(), kImages);
    for (int i = 0; i < kImages; ++i) {
      const float* a = y.data() + size_t(i) * C;
      const float* b = expected.data() + size_t(i) * C;
      size_t best_a = 0, best_b = 0;
      for (size_t c = 0; c < C; ++c) {
        EXPECT_NEAR(a[c], b[c], 1e-4 * std::max(1.f, std::abs(b[c]))) << k.name << " image " << i << " class " << c;
        if (a[c] > a[best_a]) best_a = c;
        if (b[c] > b[best_b]) best_b = c;
      }
      EXPECT_EQ(best_a, best_b) << k.name << " image " << i;
    }
    ++checked;
  }
  EXPECT_GE(checked, 2);  // the scalar reference and at least one SIMD kernel
}

// The committed model is a format-version-1 file: it still loads, and records no dataset.
TEST(ReferenceModel, Version1FileLoadsWithoutADataset) {
  rt::Engine e = rt::Engine::load(kModel);
  EXPECT_EQ(e.info().dataset, "");
  EXPECT_EQ(e.info().num_classes, 10u);
}

}  // namespace
}  // namespace ds
