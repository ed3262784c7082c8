// --diagnostics: the code histogram, per-latent flips and gradient flow it reports are the ones
// the latents imply (checked against values computed here from the spec), and a run writes one
// line per epoch plus the initial state. --latent-std: scales the paper's init, defines the run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "train/diagnostics.h"
#include "train/layers.h"
#include "train/quant/latent_init.h"
#include "train/run_config.h"
#include "train/trainer.h"
#include "synthetic_idx.h"

namespace ds {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct TwoConv : torch::nn::Module {
  QConv2d a{nullptr}, b{nullptr};
  explicit TwoConv(QuantSpec s) {
    a = register_module("a", QConv2d(QConv2dOptions{4, 32, 3, 1, 1}, s));
    b = register_module("b", QConv2d(QConv2dOptions{32, 32, 3, 1, 1}, s));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b->forward(torch::relu(a->forward(x))); }
};

// P per element from the latents, straight from DENSESHIFT.md section 2.
torch::Tensor exponent(const torch::Tensor& lat) {
  torch::Tensor P = torch::zeros_like(lat[0]);
  for (int64_t k = 1; k < lat.size(0); ++k) P = (P + 1) * lat[k].gt(0).to(P.scalar_type());
  return P;
}

TEST(Diagnostics, HistogramFlipsAndGradientFlowMatchTheLatents) {
  torch::manual_seed(3);
  TwoConv m(QuantSpec{Method::kDenseShift, 4});  // K = 7
  const fs::path file = fs::temp_directory_path() / ("ds_diag_" + std::to_string(::getpid()) + ".jsonl");
  fs::remove(file);
  Diagnostics d(m, file);
  d.begin_epoch();
  for (int step = 0; step < 2; ++step) {
    m.zero_grad();
    m.forward(torch::randn({2, 4, 6, 6})).square().mean().backward();
    d.after_backward();
  }
  // Flip every v1 of layer b by hand: its flip fraction must be 1, the others 0.
  {
    torch::NoGradGuard ng;
    m.b->quant_weight().param()[1].neg_();
  }
  const json line = json::parse(d.line(1));
  const json& b = line["layers"]["b"];
  const torch::Tensor lat = m.b->quant_weight().param().detach();
  // hist[P + 1] is the fraction of weights with exponent P (index 0: zero weights, none here).
  const torch::Tensor P = exponent(lat).flatten();
  ASSERT_EQ(b["hist"].size(), 9u);
  EXPECT_EQ(b["hist"][0].get<double>(), 0.0);
  for (int p = 0; p <= 7; ++p)
    EXPECT_NEAR(b["hist"][size_t(p + 1)].get<double>(), P.eq(p).to(torch::kDouble).mean().item<double>(), 1e-12) << p;
  ASSERT_EQ(b["flip"].size(), 8u);  // u, v1..v7
  EXPECT_EQ(b["flip"][1].get<double>(), 1.0);
  for (size_t r : {0u, 2u, 7u}) EXPECT_EQ(b["flip"][r].get<double>(), 0.0) << r;
  // v_k has gradient only where every later v_j > 0: at the LVRI init about 2^-(K-k) of the
  // weights (v7 always, v1 about 1/64). u always has gradient.
  const json& live = b["grad_live"];
  EXPECT_NEAR(live[0].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(live[7].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(live[6].get<double>(), 0.5, 0.03);
  EXPECT_NEAR(live[4].get<double>(), 0.125, 0.02);
  EXPECT_LT(live[1].get<double>(), 0.04);
  EXPECT_GT(b["grad_abs"][7].get<double>(), b["grad_abs"][1].get<double>());
  // Overall = element-weighted layers; the histogram sums to one.
  double sum = 0;
  for (const auto& f : line["overall"]["hist"]) sum += f.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_EQ(line["overall"]["flip"].size(), 8u);
  d.end_epoch(1);
  std::ifstream in(file);
  std::string written;
  std::getline(in, written);
  EXPECT_EQ(json::parse(written)["epoch"], 1);
  fs::remove(file);
}

TEST(Diagnostics, ARunWritesOneLinePerEpochAndTheInitialState) {
  const fs::path root = fs::temp_directory_path() / ("ds_diag_run_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "data");
  testing::write_quadrant_idx(root / "data", "train", 128, 1);
  testing::write_quadrant_idx(root / "data", "t10k", 64, 2);
  TrainConfig c;
  c.data = (root / "data").string();
  c.arch = "smallcnn";
  c.policy.body = QuantSpec{Method::kShiftWithZero, 3};
  c.epochs = 2, c.batch_size = 32, c.workers = 0, c.threads = 1, c.quiet = true, c.augment = "none";
  c.out = (root / "run").string();
  c.diagnostics = true;
  run_training(c);
  std::ifstream in(root / "run" / "diagnostics.jsonl");
  std::vector<json> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["epoch"], 0);
  EXPECT_FALSE(lines[0]["overall"].contains("flip"));  // no epoch has run yet
  EXPECT_EQ(lines[2]["epoch"], 2);
  EXPECT_EQ(lines[2]["overall"]["flip"].size(), 4u);  // shift-with-zero 3-bit: u, z, v1, v2
  EXPECT_GT(lines[2]["overall"]["hist"][0].get<double>(), 0.0);  // it has zero weights
  // Off (the default): no file.
  c.diagnostics = false;
  c.out = (root / "off").string();
  run_training(c);
  EXPECT_FALSE(fs::exists(root / "off" / "diagnostics.jsonl"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace ds

namespace ds {
namespace {

// --latent-std: the same random numbers as the paper's init, scaled; the run stores it, a resume
// cannot change it, and it is refused where it would not take effect.
TEST(LatentStd, ScalesThePapersInitAndDefinesTheRun) {
  torch::manual_seed(5);
  TwoConv paper(QuantSpec{Method::kDenseShift, 3});
  torch::manual_seed(5);
  TwoConv wide(QuantSpec{Method::kDenseShift, 3});
  EXPECT_EQ(rescale_latent_init(wide, 0.05), 2);
  const torch::Tensor a = paper.b->quant_weight().param(), b = wide.b->quant_weight().param();
  EXPECT_TRUE(torch::allclose(b, a * 50.0, 1e-5, 0));
  EXPECT_NEAR(b.std().item<double>(), 0.05, 0.002);
  EXPECT_NEAR(a.std().item<double>(), kLvriStd, 0.00004);

  TrainConfig c;
  c.latent_std = 0.05;
  const TrainConfig back = config_from_json(config_to_json(c), "test");
  EXPECT_EQ(back.latent_std, 0.05);
  TrainConfig asked = back;
  asked.latent_std = 0.01;
  EXPECT_THROW(merge_resume(back, asked, {"--resume", "--latent-std"}, "run"), TrainError);
  c.init.source = "somewhere.pt";
  EXPECT_THROW(validate_config(c), TrainError);  // --init-from decides the latents itself
  c.init.source.clear();
  c.latent_std = 0;
  EXPECT_THROW(validate_config(c), TrainError);
}

// Both study flags are refused where they would do nothing: --latent-std without any layer that
// has latents (FP32, DeepShift-Q), --diagnostics without any quantized layer.
TEST(LatentStd, RefusedWhereNoLayerHasLatents) {
  TrainConfig c;
  c.latent_std = 0.05;
  EXPECT_NO_THROW(validate_config(c));  // default policy: DenseShift 3-bit body
  c.policy.body = QuantSpec{Method::kShiftWithZero, 3};
  EXPECT_NO_THROW(validate_config(c));
  for (Method m : {Method::kFp32, Method::kDeepShiftQ}) {
    c.policy.body = QuantSpec{m, m == Method::kFp32 ? 32 : 3};
    try {
      validate_config(c);
      ADD_FAILURE() << "--latent-std accepted with " << method_name(m);
    } catch (const TrainError& e) {
      EXPECT_NE(std::string(e.what()).find("--latent-std"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(method_name(m)), std::string::npos) << e.what();
    }
  }
  c.policy.overrides["layer1.0.conv1"] = QuantSpec{Method::kDenseShift, 2};  // one layer with latents is enough
  EXPECT_NO_THROW(validate_config(c));

  TrainConfig d;
  d.diagnostics = true;
  EXPECT_NO_THROW(validate_config(d));
  d.policy.body = QuantSpec{Method::kDeepShiftQ, 3};  // codes without latents: histograms still mean something
  EXPECT_NO_THROW(validate_config(d));
  d.policy.body = QuantSpec{Method::kFp32, 32};
  EXPECT_THROW(validate_config(d), TrainError);
}

}  // namespace
}  // namespace ds
