// Trainer: a tiny run learns, resume is exact, checkpoints are atomic and checked, NaN stops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "train/checkpoint.h"
#include "train/trainer.h"
#include "synthetic_idx.h"

namespace ds {
namespace {
namespace fs = std::filesystem;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ds_trainer_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "data");
    testing::write_quadrant_idx(root_ / "data", "train", 384, 1);
    testing::write_quadrant_idx(root_ / "data", "t10k", 128, 2);
  }
  void TearDown() override { fs::remove_all(root_); }

  TrainConfig config(const std::string& out) const {
    TrainConfig c;
    c.data = (root_ / "data").string();
    c.arch = "smallcnn";
    c.policy.body = QuantSpec{Method::kDenseShift, 3};
    c.epochs = 3, c.batch_size = 32, c.lr = 0.05, c.workers = 0, c.threads = 1, c.seed = 7;
    c.out = (root_ / out).string();
    c.quiet = true;
    c.augment = "none";  // a flip would move the lit quadrant to another class
    return c;
  }
  fs::path root_;
};

std::vector<nlohmann::json> read_metrics(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream f(file);
  for (std::string line; std::getline(f, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST_F(TrainerTest, TinyRunLowersTheLossAndWritesMetrics) {
  auto r = run_training(config("run"));
  auto m = read_metrics(root_ / "run" / "metrics.jsonl");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_LT(m.back()["train_loss"].get<double>(), m.front()["train_loss"].get<double>());
  EXPECT_GT(r.final_eval.top1, 60.0);  // 4 classes: chance is 25%
  for (const char* key : {"epoch", "lr", "top1", "top5", "val_loss", "epoch_time_s", "freeze"})
    EXPECT_TRUE(m.back().contains(key)) << key;
  double changed = m.front()["freeze"]["overall"]["changed"];
  EXPECT_GT(changed, 0.0);  // the first epoch moves some codes
  EXPECT_LE(changed, 1.0);
  EXPECT_TRUE(m.front()["freeze"]["layers"].contains("conv2"));
  EXPECT_FALSE(m.front()["freeze"]["layers"].contains("conv1"));  // fp32 stem has no codes
  EXPECT_TRUE(fs::exists(root_ / "run" / "best.pt"));
  EXPECT_TRUE(fs::exists(root_ / "run" / "result.json"));
  // Evaluating the checkpoint reproduces the trainer's final number.
  TrainConfig ev = config("run");
  auto e = evaluate_checkpoint((root_ / "run").string(), ev);
  EXPECT_DOUBLE_EQ(e.top1, r.final_eval.top1);
}

TEST_F(TrainerTest, InterruptedAndResumedRunEndsWithTheSameWeights) {
  run_training(config("straight"));
  TrainConfig part = config("split");
  part.stop_after = 1;
  run_training(part);
  TrainConfig more = config("split");
  more.workers = 2;  // data order must not depend on threads
  run_training(more, (root_ / "split").string());
  auto a = load_checkpoint((root_ / "straight" / "last.pt").string());
  auto b = load_checkpoint((root_ / "split" / "last.pt").string());
  ASSERT_EQ(a.epoch, 3);
  ASSERT_EQ(b.epoch, 3);
  ASSERT_EQ(a.model.size(), b.model.size());
  for (size_t i = 0; i < a.model.size(); ++i) {
    EXPECT_EQ(a.model[i].first, b.model[i].first);
    EXPECT_TRUE(torch::equal(a.model[i].second, b.model[i].second)) << a.model[i].first;
  }
  for (size_t i = 0; i < a.momentum.size(); ++i) EXPECT_TRUE(torch::equal(a.momentum[i].second, b.momentum[i].second));
  EXPECT_EQ(read_metrics(root_ / "split" / "metrics.jsonl").size(), 3u);
}

TEST_F(TrainerTest, RefusesToOverwriteARunWithoutFresh) {
  TrainConfig c = config("run");
  c.epochs = 1;
  run_training(c);
  EXPECT_THROW(run_training(c), TrainError);
  c.fresh = true;
  EXPECT_NO_THROW(run_training(c));
}

TEST_F(TrainerTest, CheckpointWritesAreAtomicAndLoadsAreChecked) {
  const fs::path file = root_ / "ck.pt";
  Checkpoint c;
  c.epoch = 4, c.best_top1 = 12.5, c.config_json = "{}";
  c.model = {{"w", torch::arange(10.f)}};
  save_checkpoint(c, file.string());
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
  // A crash mid-write leaves at most a stray temp file; the last good checkpoint still loads.
  std::ofstream(file.string() + ".tmp") << "partial garbage";
  EXPECT_EQ(load_checkpoint(file.string()).epoch, 4);
  // A failing write (folder gone) throws and never touches the target.
  EXPECT_THROW(save_checkpoint(c, (root_ / "missing" / "ck.pt").string()), CheckpointError);
  c.epoch = 5;
  save_checkpoint(c, file.string());
  auto back = load_checkpoint(file.string());
  EXPECT_EQ(back.epoch, 5);
  EXPECT_DOUBLE_EQ(back.best_top1, 12.5);
  EXPECT_TRUE(torch::equal(back.model[0].second, torch::arange(10.f)));
  // Truncated and foreign files are refused with the file's name in the message.
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path cut = root_ / "cut.pt";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  try {
    load_checkpoint(cut.string());
    FAIL() << "truncated checkpoint loaded";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_checkpoint((root_ / "nope.pt").string()), CheckpointError);
  // Python's torch.load reads the zip layout torch.save writes: a zip archive whose pickle is
  // <name>/data.pkl and whose tensors are <name>/data/<n>.
  EXPECT_EQ(bytes.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_NE(bytes.find("/data.pkl"), std::string::npos);
  EXPECT_NE(bytes.find("/data/0"), std::string::npos);
}

TEST_F(TrainerTest, NonFiniteLossStopsTheRun) {
  TrainConfig c = config("nan");
  c.lr = 1e30;
  try {
    run_training(c);
    FAIL() << "training went on with a huge learning rate";
  } catch (const TrainError& e) {
    EXPECT_NE(std::string(e.what()).find("loss is"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, DivergedWeightsAreNeverSavedAsGood) {
  // A finite loss does not prove a finite state: BatchNorm trains on batch statistics, so an
  // infinite running variance (what a huge --lr leaves) trains on with a finite loss, and only
  // evaluation and export would see NaN. The trainer must refuse to save it.
  TrainConfig c = config("diverged");
  c.stop_after = 1;
  run_training(c);
  const fs::path last = root_ / "diverged" / "last.pt";
  Checkpoint ck = load_checkpoint(last.string());
  bool poisoned = false;
  for (auto& [name, t] : ck.model)
    if (!poisoned && name.size() > 11 && name.substr(name.size() - 11) == "running_var") t.fill_(INFINITY), poisoned = true;
  ASSERT_TRUE(poisoned);
  save_checkpoint(ck, last.string());
  try {
    run_training(config("diverged"), (root_ / "diverged").string());
    FAIL() << "a run whose BatchNorm statistics are infinite was trained on and saved";
  } catch (const TrainError& e) {
    EXPECT_NE(std::string(e.what()).find("running_var"), std::string::npos) << e.what();
  }
  EXPECT_EQ(load_checkpoint(last.string()).epoch, 1);  // the last good checkpoint was not replaced
}

TEST_F(TrainerTest, ResumeRebuildsMetricsLostInACrash) {
  // A crash between last.pt and metrics.jsonl (or a full disk) lost the last epoch's line; the
  // checkpoint's history restores it when the run is resumed, even with no epoch left to run.
  TrainConfig c = config("run");
  c.epochs = 2;
  run_training(c);
  const fs::path metrics = root_ / "run" / "metrics.jsonl";
  ASSERT_EQ(read_metrics(metrics).size(), 2u);
  std::ifstream in(metrics);
  std::string first;
  std::getline(in, first);
  in.close();
  std::ofstream(metrics, std::ios::trunc) << first << "\n";
  run_training(c, (root_ / "run").string());
  auto m = read_metrics(metrics);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1]["epoch"].get<int>(), 2);
  // best.pt and result.json agree on the best epoch.
  auto best = load_checkpoint((root_ / "run" / "best.pt").string());
  std::ifstream res(root_ / "run" / "result.json");
  auto r = nlohmann::json::parse(res);
  EXPECT_EQ(best.epoch, r["best_epoch"].get<int>());
}

TEST_F(TrainerTest, PythonsTorchLoadReadsACheckpoint) {
  TrainConfig c = config("py");
  c.epochs = 1;
  run_training(c);
  const std::string script =
      "import torch\n"
      "ck = torch.load('" + (root_ / "py" / "last.pt").string() + "')\n"
      "assert ck['format'] == 'denseshift-checkpoint' and ck['epoch'] == 1 and ck['best_epoch'] == 1\n"
      "assert ck['checksum'].startswith('fnv1a64:') and ck['history'].count('\\n') == 1\n"
      "assert ck['model']['conv2.latents'].dim() == 5\n";
  std::ofstream(root_ / "read.py") << script;
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-torch is not installed (scripts/setup.sh installs it)";
  EXPECT_EQ(std::system(("/usr/bin/python3 " + (root_ / "read.py").string()).c_str()), 0);
}

TEST_F(TrainerTest, BaselinesTrainThroughTheSameLoop) {
  for (Method m : {Method::kFp32, Method::kDeepShiftQ, Method::kShiftWithZero}) {
    TrainConfig c = config(method_name(m));
    c.policy.body = QuantSpec{m, 3};
    auto r = run_training(c);
    EXPECT_GT(r.final_eval.top1, 30.0) << method_name(m);
  }
}

}  // namespace
}  // namespace ds
