// Models: output shapes and parameter counts against the published ones.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/models.h"

namespace ds {
namespace {

ModelConfig fp32_config(const std::string& arch, int in_channels, int classes) {
  ModelConfig c;
  c.arch = arch, c.in_channels = in_channels, c.num_classes = classes;
  c.policy.body = QuantSpec{Method::kFp32, 3};
  return c;
}

// torchvision's counts: resnet18 11,689,512; resnet34 21,797,672; resnet50 25,557,032.
TEST(Models, ImageNetParameterCounts) {
  EXPECT_EQ(parameter_count(*make_model(fp32_config("resnet18", 3, 1000))), 11689512);
  EXPECT_EQ(parameter_count(*make_model(fp32_config("resnet34", 3, 1000))), 21797672);
  EXPECT_EQ(parameter_count(*make_model(fp32_config("resnet50", 3, 1000))), 25557032);
}

// He et al. 2016: ResNet-20 0.27M, -32 0.46M, -44 0.66M, -56 0.85M (option-A shortcuts).
TEST(Models, CifarParameterCounts) {
  EXPECT_EQ(parameter_count(*make_model(fp32_config("resnet20", 3, 10))), 269722);
  EXPECT_NEAR(parameter_count(*make_model(fp32_config("resnet32", 3, 10))) / 1e6, 0.46, 0.005);
  EXPECT_NEAR(parameter_count(*make_model(fp32_config("resnet44", 3, 10))) / 1e6, 0.66, 0.005);
  EXPECT_NEAR(parameter_count(*make_model(fp32_config("resnet56", 3, 10))) / 1e6, 0.85, 0.005);
}

TEST(Models, OutputShapes) {
  torch::NoGradGuard ng;
  struct Case {
    std::string arch;
    int c, hw, classes;
  };
  for (const Case& k : {Case{"resnet18", 3, 64, 7}, Case{"resnet50", 3, 64, 5}, Case{"resnet20", 1, 28, 10},
                        Case{"resnet20", 3, 32, 100}, Case{"resnet56", 3, 20, 3}, Case{"smallcnn", 1, 28, 10}}) {
    ModelConfig cfg = fp32_config(k.arch, k.c, k.classes);
    cfg.policy.body = QuantSpec{Method::kDenseShift, 3};
    auto m = make_model(cfg);
    m->eval();
    auto y = m->forward(torch::randn({2, k.c, k.hw, k.hw}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, k.classes})) << k.arch;
  }
}

// First conv and last fc stay FP32 by default; every other conv (projections included) is quantized.
TEST(Models, DefaultPolicyQuantizesTheBodyOnly) {
  ModelConfig cfg = fp32_config("resnet18", 3, 1000);
  cfg.policy.body = QuantSpec{Method::kDenseShift, 3};
  auto m = make_model(cfg);
  int quantized = 0, full = 0;
  for (const auto& [name, q] : quant_layers(*m)) {
    bool fp = q->quant_weight().spec().method == Method::kFp32;
    if (name == "conv1" || name == "fc") {
      EXPECT_TRUE(fp) << name;
    } else {
      EXPECT_FALSE(fp) << name;
    }
    (fp ? full : quantized)++;
  }
  EXPECT_EQ(full, 2);
  EXPECT_EQ(quantized, 16 + 3);  // 16 block convs + 3 projection shortcuts
}

TEST(Models, OverridesAndUnknownArch) {
  ModelConfig cfg = fp32_config("resnet20", 3, 10);
  cfg.policy.body = QuantSpec{Method::kDenseShift, 3};
  cfg.policy.overrides["layer2.1.conv2"] = QuantSpec{Method::kDenseShift, 5};
  cfg.policy.last = QuantSpec{Method::kDenseShift, 4};
  auto m = make_model(cfg);
  for (const auto& [name, q] : quant_layers(*m)) {
    if (name == "layer2.1.conv2") {
      EXPECT_EQ(q->quant_weight().spec().bits, 5);
    }
    if (name == "fc") {
      EXPECT_EQ(spec_name(q->quant_weight().spec()), "denseshift:4");
    }
  }
  EXPECT_THROW(make_model(fp32_config("vgg16", 3, 10)), std::invalid_argument);
}

}  // namespace
}  // namespace ds
