// --init-from: PyTorch state_dicts and TorchScript written by Python, denseshift checkpoints,
// projection of FP32 weights to codes, head replacement, freezing, and clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"
#include "synthetic_idx.h"
#include "train/export.h"
#include "train/init_from.h"
#include "train/quant/ops.h"
#include "train/quant/project.h"
#include "train/trainer.h"

namespace ds {
namespace {

namespace fs = std::filesystem;
const std::string kData = DS_TRAIN_TEST_DATA_DIR;

torch::Tensor fixed_input(int c, int h, int w) {
  auto n = torch::arange(2.).view({2, 1, 1, 1}), ch = torch::arange(double(c)).view({1, c, 1, 1});
  auto y = torch::arange(double(h)).view({1, 1, h, 1}), x = torch::arange(double(w)).view({1, 1, 1, w});
  return torch::sin(0.1 * (n * 7 + ch * 5 + y * 3 + x)).to(torch::kFloat);
}

std::vector<float> read_logits(const std::string& path) {
  std::ifstream f(path);
  std::vector<float> v;
  for (float x; f >> x;) v.push_back(x);
  return v;
}

std::shared_ptr<NetImpl> fp32_model(const std::string& arch, int in, int classes, Method body = Method::kFp32) {
  ModelConfig mc;
  mc.arch = arch, mc.in_channels = in, mc.num_classes = classes;
  mc.policy.body = QuantSpec{body, 3};
  return make_model(mc);
}

// Loads `file` into a fresh FP32 `arch` and compares its logits with Python's.
void expect_same_network(const std::string& file, const std::string& arch, int side, const std::string& logits_file,
                         const std::string& kind) {
  auto model = fp32_model(arch, 3, arch == "resnet18" ? 1000 : 10);
  InitReport r;
  const NamedTensors src = read_init_source(file, &r.kind);
  EXPECT_EQ(r.kind, kind);
  InitOptions o;
  o.source = file;
  InitReport got = init_model_from(*model, src, o);
  EXPECT_TRUE(got.created.empty()) << got.text();
  EXPECT_TRUE(got.skipped.empty()) << got.text();
  EXPECT_TRUE(got.converted.empty()) << got.text();
  // Every parameter and buffer came from the file (num_batches_tracked included).
  EXPECT_EQ(got.loaded.size(), model->named_parameters().size() + model->named_buffers().size()) << got.text();
  model->eval();
  torch::NoGradGuard ng;
  const torch::Tensor y = model->forward(fixed_input(3, side, side)).contiguous();
  const std::vector<float> want = read_logits(logits_file);
  ASSERT_EQ(size_t(y.numel()), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(y.data_ptr<float>()[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
}

TEST(InitFrom, PythonStateDictOfACifarResNet20LoadsEveryParameterAndComputesTheSame) {
  expect_same_network(kData + "/resnet20_cifar.pt", "resnet20", 32, kData + "/resnet20_cifar.logits", "PyTorch state_dict");
}

TEST(InitFrom, TorchScriptFileLoadsTheSame) {
  expect_same_network(kData + "/resnet20_cifar_script.pt", "resnet20", 32, kData + "/resnet20_cifar.logits",
                      "TorchScript module");
}

TEST(InitFrom, TorchvisionResNet18StateDictFromPython) {
  // 46.8 MB: written here by the committed script with Debian's python3-torch and torchvision.
  testing::TempDirBase dir("ds_init18");
  const std::string cmd = "/usr/bin/python3 " + std::string(DS_SOURCE_DIR) + "/scripts/make_torch_test_models.py " +
                          dir.str() + " resnet18 > " + dir.str("log") + " 2>&1";
  if (std::system(cmd.c_str()) != 0)
    GTEST_SKIP() << "python3 with torch and torchvision is not installed (scripts/setup.sh installs it)";
  expect_same_network(dir.str("resnet18_torchvision.pt"), "resnet18", 64, dir.str("resnet18_torchvision.logits"),
                      "PyTorch state_dict");
}

TEST(InitFrom, ProjectGivesTheNearestPowerOfTwoAfterTheLayerScale) {
  const torch::Tensor w = torch::tensor({8.f, -4.f, 2.9f, 1.1f, -0.6f, 0.2f, 0.f});
  // DenseShift 3-bit: scale 8 / 2^3 = 1; P = round(log2|w|) in 0..3; codes are s * (P + 1).
  Projection ds3 = project_to_latents(w, QuantSpec{Method::kDenseShift, 3});
  EXPECT_DOUBLE_EQ(ds3.scale, 1.0);
  const torch::Tensor c = latent_codes(ds3.latents, latent::Layout{3, false});
  EXPECT_TRUE(torch::equal(c.to(torch::kInt), torch::tensor({4, -3, 3, 1, -1, 1, 1}, torch::kInt))) << c;
  EXPECT_LE(ds3.latents.abs().max().item<float>(), 1.001e-3f);  // small: training can still move them
  // Shift-with-zero 3-bit: K = 2, scale 8 / 4 = 2; |w| / 2 below 0.5 becomes zero.
  Projection swz = project_to_latents(w, QuantSpec{Method::kShiftWithZero, 3});
  EXPECT_DOUBLE_EQ(swz.scale, 2.0);
  const torch::Tensor cz = latent_codes(swz.latents, latent::Layout{2, true});
  EXPECT_TRUE(torch::equal(cz.to(torch::kInt), torch::tensor({3, -2, 2, 1, 0, 0, 0}, torch::kInt))) << cz;
  // The weights the layer then computes with are s * 2^P: w / scale rounded in the log domain.
  const torch::Tensor q = latent_weight(ds3.latents, latent::Layout{3, false});
  EXPECT_TRUE(torch::equal(q, torch::tensor({8.f, -4.f, 4.f, 1.f, -1.f, 1.f, 1.f})));
}

TEST(InitFrom, ProjectConvertsEveryQuantizedConvAndRescalesItsBatchNorm) {
  auto model = fp32_model("resnet20", 3, 10, Method::kDenseShift);
  InitOptions o;
  o.source = kData + "/resnet20_cifar.pt";
  o.latents = "project";
  std::string kind;
  InitReport r = init_model_from(*model, read_init_source(o.source, &kind), o);
  EXPECT_EQ(r.converted.size(), 18u) << r.text();  // every conv but the FP32 stem
  EXPECT_TRUE(r.created.empty());
  // In eval mode the projected network computes nearly what the FP32 one did: BatchNorm's
  // statistics were divided by each layer's scale (3-bit codes are coarse: same top class).
  model->eval();
  torch::NoGradGuard ng;
  const torch::Tensor y = model->forward(fixed_input(3, 32, 32));
  const std::vector<float> want = read_logits(kData + "/resnet20_cifar.logits");
  const torch::Tensor ref = torch::from_blob(const_cast<float*>(want.data()), {2, 10}).clone();
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_GT(torch::cosine_similarity(y.flatten(), ref.flatten(), 0).item<float>(), 0.5f);
}

TEST(InitFrom, ANewClassCountReplacesTheHeadWithAMessage) {
  auto model = fp32_model("resnet20", 3, 5);
  InitOptions o;
  o.source = kData + "/resnet20_cifar.pt";
  std::string kind;
  InitReport r = init_model_from(*model, read_init_source(o.source, &kind), o);
  ASSERT_EQ(r.created.size(), 1u) << r.text();
  EXPECT_NE(r.created[0].find("fc (shape [10, 64] in the source, [5, 64] here"), std::string::npos) << r.created[0];
  EXPECT_EQ(r.new_params, (std::set<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_NE(r.text().find("1 layers created"), std::string::npos);
  // The new head starts small (lvri) and zero-biased.
  const auto params = model->named_parameters();
  EXPECT_LT(params["fc.weight"].abs().max().item<float>(), 0.01f);
  EXPECT_EQ(params["fc.bias"].abs().max().item<float>(), 0.f);
  // Another input channel count replaces the stem the same way.
  auto grey = fp32_model("resnet20", 1, 10);
  InitReport g = init_model_from(*grey, read_init_source(o.source, &kind), o);
  ASSERT_EQ(g.created.size(), 1u) << g.text();
  EXPECT_EQ(g.created[0].rfind("conv1 (", 0), 0u) << g.created[0];
}

TEST(InitFrom, PartialOrMismatchedSourcesAreClearErrors) {
  std::string kind;
  NamedTensors src = read_init_source(kData + "/resnet20_cifar.pt", &kind);
  InitOptions o;
  o.source = "test.pt";
  auto expect_error = [&](const NamedTensors& s, const std::string& needle) {
    auto model = fp32_model("resnet20", 3, 10);
    try {
      init_model_from(*model, s, o);
      ADD_FAILURE() << "accepted; expected an error about " << needle;
    } catch (const TrainError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--allow-partial"), std::string::npos) << e.what();
    }
  };
  NamedTensors missing;
  for (const auto& [k, v] : src)
    if (k != "layer2.1.conv1.weight") missing.emplace_back(k, v);
  expect_error(missing, "layer2.1.conv1: not in the source");
  NamedTensors extra = src;
  extra.emplace_back("layer4.0.conv1.weight", torch::zeros({8, 8, 3, 3}));
  expect_error(extra, "layer4.0.conv1.weight");
  NamedTensors reshaped = src;
  for (auto& [k, v] : reshaped)
    if (k == "layer3.0.conv2.weight") v = torch::zeros({64, 64, 1, 1});
  expect_error(reshaped, "layer3.0.conv2: shape");
  // With --allow-partial the missing layer is re-created and reported.
  o.allow_partial = true;
  auto model = fp32_model("resnet20", 3, 10);
  InitReport r = init_model_from(*model, missing, o);
  ASSERT_EQ(r.created.size(), 1u);
  EXPECT_EQ(r.created[0].rfind("layer2.1.conv1", 0), 0u);
  // Not a model at all.
  testing::TempDirBase dir("ds_init_bad");
  std::ofstream(dir.str("notes.txt")) << "hello";
  EXPECT_THROW(read_init_source(dir.str("notes.txt"), &kind), TrainError);
  EXPECT_THROW(read_init_source(dir.str("missing.pt"), &kind), TrainError);
}

TEST(InitFrom, FineTuningARunKeepsFrozenParametersBitIdenticalAndExportWorks) {
  testing::TempDirBase dir("ds_init_ft");
  fs::create_directories(dir.path / "data");
  testing::write_quadrant_idx(dir.path / "data", "train", 128, 1);
  testing::write_quadrant_idx(dir.path / "data", "t10k", 32, 2);
  TrainConfig c;
  c.data = dir.str("data"), c.arch = "smallcnn", c.policy.body = QuantSpec{Method::kDenseShift, 3};
  c.epochs = 1, c.batch_size = 32, c.lr = 0.05, c.workers = 0, c.threads = 1, c.quiet = true, c.augment = "none";
  c.out = dir.str("pre");
  run_training(c);
  TrainConfig ft = c;
  ft.out = dir.str("ft"), ft.epochs = 2, ft.seed = 5;
  ft.init.source = dir.str("pre");
  ft.init.reinit = {"fc"};
  ft.freeze = {"conv*"};
  ft.lr_head = 0.2;
  run_training(ft);
  const Checkpoint pre = load_checkpoint(dir.str("pre/last.pt")), after = load_checkpoint(dir.str("ft/last.pt"));
  int frozen = 0, moved = 0;
  for (size_t i = 0; i < pre.model.size(); ++i) {
    const std::string& k = pre.model[i].first;
    const bool same = torch::equal(pre.model[i].second, after.model[i].second);
    if (k.rfind("conv", 0) == 0) {
      EXPECT_TRUE(same) << k << " was frozen but changed";
      ++frozen;
    }
    if (k == "fc.weight" || k.rfind("bn2.", 0) == 0) moved += !same;
  }
  EXPECT_GT(frozen, 0);
  EXPECT_GT(moved, 0);
  // The run records what it was started from, and exports like any other run.
  EXPECT_NE(after.config_json.find("\"new_params\":[\"fc.bias\",\"fc.weight\"]"), std::string::npos) << after.config_json;
  EXPECT_NO_THROW(export_checkpoint(dir.str("ft"), dir.str("ft.dsm")));
}

}  // namespace
}  // namespace ds
