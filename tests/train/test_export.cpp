// Export + engine parity: a model trained here, exported to .dsm and run on the libtorch-free
// engine gives the trainer's logits and predictions, with every float-activation kernel.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/container.h"
#include "data/dataset.h"
#include "runtime/engine.h"
#include "train/export.h"
#include "train/models.h"
#include "train/trainer.h"
#include "synthetic_idx.h"

namespace ds {
namespace {
namespace fs = std::filesystem;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ds_export_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "data");
    testing::write_quadrant_idx(root_ / "data", "train", 384, 1);
    testing::write_quadrant_idx(root_ / "data", "t10k", 200, 2);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Trains briefly, exports, and compares engine and trainer on the whole test split.
  void check_parity(const std::string& arch, QuantSpec body) {
    TrainConfig c;
    c.data = (root_ / "data").string();
    c.arch = arch, c.policy.body = body;
    c.epochs = 2, c.batch_size = 32, c.lr = 0.05, c.workers = 0, c.threads = 1, c.seed = 3, c.quiet = true;
    c.augment = "none";
    c.out = (root_ / "run").string();
    c.fresh = true;
    run_training(c);
    const std::string model_path = (root_ / "model.dsm").string();
    ExportReport rep = export_checkpoint(c.out, model_path);
    EXPECT_GT(rep.file_bytes, 0u);

    TrainConfig over;
    over.quiet = true;
    TrainedModel t = load_trained_model(c.out, over);
    // The run's own normalization and classes, as export records them.
    auto test = data::open_dataset(c.data, data::Split::kTest,
                                   data::OpenOptions{data::Augment::kNone, {t.cfg.mean, t.cfg.std}, t.cfg.class_names});
    const size_t n = test->size(), dim = test->sample_shape().numel();
    std::vector<float> x(n * dim);
    std::mt19937 rng(0);
    for (size_t i = 0; i < n; ++i) test->load(i, x.data() + i * dim, rng);
    torch::Tensor ref;
    {
      torch::NoGradGuard ng;
      ref = t.model->forward(torch::from_blob(x.data(), {int64_t(n), 1, 12, 12})).contiguous();
    }
    const int C = int(ref.size(1));
    // Every kernel that can run this model's weights (shift-with-zero models: the zero-weight
    // kernels and the decoding panel kernels), and at least one.
    const auto usable = kernels::kernels_for(rt::Engine::load(model_path).quantized_weights());
    ASSERT_FALSE(usable.empty());
    for (const kernels::KernelInfo* kp : usable) {
      const kernels::KernelInfo& k = *kp;
      rt::Engine e = rt::Engine::load(model_path, rt::EngineOptions{k.name, 2});
      ASSERT_EQ(int(e.info().num_classes), C);
      std::vector<float> y = e.run(x.data(), int(n));
      size_t same = 0;
      double worst = 0;
      for (size_t i = 0; i < n; ++i) {
        const float* a = y.data() + i * size_t(C);
        const float* b = ref.data_ptr<float>() + i * size_t(C);
        same += std::max_element(a, a + C) - a == std::max_element(b, b + C) - b;
        for (int j = 0; j < C; ++j) worst = std::max(worst, std::abs(double(a[j]) - b[j]) / std::max(1.0, std::abs(double(b[j]))));
      }
      if (k.fp16_activations) {
        EXPECT_GE(double(same) / n, 0.9) << k.name << " (FP16 activations)";
        continue;
      }
      EXPECT_EQ(same, n) << k.name << ": predictions differ from the trainer's";
      EXPECT_LE(worst, 1e-4) << k.name << ": logits differ from the trainer's";
    }
  }
  fs::path root_;
};

TEST_F(ExportTest, SmallCnnDenseShiftMatchesTheTrainer) { check_parity("smallcnn", QuantSpec{Method::kDenseShift, 3}); }
TEST_F(ExportTest, ResNet20WithShortcutsMatchesTheTrainer) { check_parity("resnet20", QuantSpec{Method::kDenseShift, 2}); }
TEST_F(ExportTest, DeepShiftQExportsAsZeroFreeCodes) { check_parity("smallcnn", QuantSpec{Method::kDeepShiftQ, 4}); }
TEST_F(ExportTest, ShiftWithZeroRunsOnTheBaselineKernel) { check_parity("smallcnn", QuantSpec{Method::kShiftWithZero, 3}); }
TEST_F(ExportTest, Fp32ModelRunsToo) { check_parity("smallcnn", QuantSpec{Method::kFp32, 3}); }

// ResNet-18 3-bit: the file must be at most 1/7 of the 46.8 MB of FP32 weights.
TEST(ExportSize, ResNet18ThreeBitIsSevenTimesSmaller) {
  ModelConfig cfg;
  cfg.arch = "resnet18", cfg.in_channels = 3, cfg.num_classes = 1000;
  cfg.policy.body = QuantSpec{Method::kDenseShift, 3};
  auto m = make_model(cfg);
  m->eval();
  GraphEmitter g;
  m->emit(g);
  auto& info = g.desc().info;
  info.in_c = 3, info.in_h = info.in_w = 224, info.num_classes = 1000;
  info.mean = {0.485f, 0.456f, 0.406f}, info.std = {0.229f, 0.224f, 0.225f};
  std::vector<uint8_t> bytes = core::serialize_model(g.desc());
  const double fp32 = 11689512.0 * 4;
  EXPECT_LE(double(bytes.size()), fp32 / 7) << bytes.size() << " bytes";
  // And the engine accepts it (shapes connect through all 4 stages).
  rt::Engine e = rt::Engine::from_bytes(bytes, "resnet18.dsm");
  EXPECT_EQ(e.info().num_classes, 1000u);
}

}  // namespace
}  // namespace ds
