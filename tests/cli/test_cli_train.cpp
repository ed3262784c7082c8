// `denseshift train` as a user runs it: every flag takes effect or is refused with a reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/cli_util.h"
#include "train/synthetic_idx.h"

namespace ds::testing {
namespace {

// A 4-class 12x12 IDX dataset in a fresh folder.
struct TinyIdx {
  CliTempDir dir;
  TinyIdx() {
    write_quadrant_idx(dir.path, "train", 96, 1);
    write_quadrant_idx(dir.path, "t10k", 32, 2);
  }
  std::string data() const { return dir.str(); }
  std::string out(const std::string& name = "run") const { return dir.str(name); }
};

TEST(CliTrain, RefusesNonPositiveNumbers) {
  TinyIdx d;
  for (const auto& bad : std::vector<std::vector<std::string>>{{"--epochs", "0"},
                                                               {"--epochs", "-3"},
                                                               {"--lr", "-1"},
                                                               {"--lr", "0"},
                                                               {"--batch-size", "-2"},
                                                               {"--batch-size", "0"},
                                                               {"--momentum", "nan"},
                                                               {"--wd", "-1"}}) {
    std::vector<std::string> args{"train", d.data(), "--out", d.out(), "--quiet"};
    args.insert(args.end(), bad.begin(), bad.end());
    CliResult r = run_cli(args);
    EXPECT_NE(r.rc, 0) << bad[0] << " " << bad[1] << " was accepted:\n" << r.out;
    EXPECT_TRUE(r.has(bad[0])) << "the error does not name " << bad[0] << ":\n" << r.out;
  }
}

// A short run on the tiny set: 2 epochs of 3 steps, one thread, no progress bars.
std::vector<std::string> tiny_run(const TinyIdx& d, const std::string& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"train", d.data(), "--arch", "smallcnn", "--epochs", "2", "--batch-size", "32",
                                "--threads", "1", "--workers", "1", "--quiet", "--out", d.out(out)};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(CliTrain, HeaderShowsTheAugmentationAndIdxDefaultHasNoFlip) {
  TinyIdx d;
  CliResult r = run_cli(tiny_run(d, "run", {"--stop-after", "1"}));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(r.has("augment crop |")) << r.out;  // IDX default: pad + crop, never a mirror
  EXPECT_TRUE(r.has("normalize mean")) << r.out;
  CliResult bad = run_cli(tiny_run(d, "bad", {"--augment", "imagenet"}));
  EXPECT_NE(bad.rc, 0);
  EXPECT_TRUE(bad.has("imagenet")) << bad.out;
  CliResult unknown = run_cli(tiny_run(d, "bad", {"--augment", "sideways"}));
  EXPECT_NE(unknown.rc, 0);
  EXPECT_TRUE(unknown.has("sideways")) << unknown.out;
  CliResult both = run_cli(tiny_run(d, "bad", {"--augment", "crop-flip", "--no-augment"}));
  EXPECT_NE(both.rc, 0);
  EXPECT_TRUE(both.has("--no-augment")) << both.out;
}

TEST(CliTrain, ResumeRefusesSettingsThatDefineTheRunAndTakesTheOthers) {
  TinyIdx d;
  ASSERT_EQ(run_cli(tiny_run(d, "run", {"--stop-after", "1"})).rc, 0);
  const std::string run = d.out("run");
  for (const auto& flag : std::vector<std::vector<std::string>>{{"--lr", "0.01"},
                                                               {"--epochs", "5"},
                                                               {"--batch-size", "16"},
                                                               {"--seed", "9"},
                                                               {"--augment", "none"},
                                                               {"--method", "fp32"},
                                                               {"--fresh"}}) {
    std::vector<std::string> args{"train", "--resume", run, "--quiet"};
    args.insert(args.end(), flag.begin(), flag.end());
    CliResult r = run_cli(args);
    EXPECT_NE(r.rc, 0) << flag[0] << " was accepted on --resume:\n" << r.out;
    EXPECT_TRUE(r.has(flag[0])) << r.out;
  }
  // The same value as the run's is no change; --threads may change.
  CliResult same = run_cli({"train", "--resume", run, "--quiet", "--epochs", "2", "--threads", "2"});
  EXPECT_EQ(same.rc, 0) << same.out;
  EXPECT_TRUE(same.has("2 epochs")) << same.out;
}

TEST(CliTrain, ResumeAndEvaluateFollowTheDatasetToANewFolder) {
  TinyIdx d;
  const std::string moved = d.dir.str("moved");
  // Trained from a relative path: the run must not depend on the folder it was started from.
  CliResult r = run_cli({"train", "data", "--arch", "smallcnn", "--epochs", "2", "--batch-size", "32", "--threads", "1",
                         "--quiet", "--stop-after", "1", "--out", d.out("run")},
                        300, "mkdir -p " + shell_quote(d.dir.str("data")) + " && cp " + shell_quote(d.dir.str()) +
                                 "/*ubyte " + shell_quote(d.dir.str("data")) + " && cd " + shell_quote(d.dir.str()) + " &&");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::filesystem::rename(d.dir.path / "data", moved);
  CliResult gone = run_cli({"train", "--resume", d.out("run"), "--quiet"});
  EXPECT_NE(gone.rc, 0);
  EXPECT_TRUE(gone.has("new location")) << gone.out;
  CliResult ev = run_cli({"train", moved, "--resume", d.out("run"), "--evaluate", "--quiet"});
  EXPECT_EQ(ev.rc, 0) << ev.out;
  CliResult res = run_cli({"train", moved, "--resume", d.out("run"), "--quiet"});
  EXPECT_EQ(res.rc, 0) << res.out;
  // A dataset of another image size is not the same dataset: refused by name.
  CliTempDir other;
  for (const char* prefix : {"train", "t10k"}) {
    std::ofstream img(other.path / (std::string(prefix) + "-images-idx3-ubyte"), std::ios::binary);
    std::ofstream lab(other.path / (std::string(prefix) + "-labels-idx1-ubyte"), std::ios::binary);
    put_be32(img, 0x803), put_be32(img, 8), put_be32(img, 16), put_be32(img, 16);
    put_be32(lab, 0x801), put_be32(lab, 8);
    for (int i = 0; i < 8; ++i) {
      lab.put(char(i % 4));
      for (int p = 0; p < 256; ++p) img.put(char(p));
    }
  }
  CliResult bad = run_cli({"train", other.str(), "--resume", d.out("run"), "--evaluate", "--quiet"});
  EXPECT_NE(bad.rc, 0) << bad.out;
  EXPECT_TRUE(bad.has("16x16")) << bad.out;
}

TEST(CliTrain, EvaluateRefusesFlagsItDoesNotUse) {
  TinyIdx d;
  ASSERT_EQ(run_cli(tiny_run(d, "run", {"--stop-after", "1"})).rc, 0);
  CliResult r = run_cli({"train", "--resume", d.out("run"), "--evaluate", "--lr", "0.5"});
  EXPECT_NE(r.rc, 0);
  EXPECT_TRUE(r.has("--lr")) << r.out;
}

TEST(CliTrain, UnknownLayerOverrideIsRefused) {
  TinyIdx d;
  CliResult r = run_cli(tiny_run(d, "run", {"--layer", "foo=denseshift:4"}));
  EXPECT_NE(r.rc, 0);
  EXPECT_TRUE(r.has("'foo'")) << r.out;
  EXPECT_TRUE(r.has("conv2")) << r.out;  // the message lists the layers there are
  CliResult ok = run_cli(tiny_run(d, "ok", {"--layer", "conv2=denseshift:4", "--stop-after", "1"}));
  EXPECT_EQ(ok.rc, 0) << ok.out;
}

TEST(CliTrain, TestLabelsOutsideTheTrainingClassesAreAnError) {
  TinyIdx d;
  // t10k labels: the 4-class set with one label 255.
  const auto labels = d.dir.path / "t10k-labels-idx1-ubyte";
  std::fstream f(labels, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(8 + 5);
  f.put(char(255));
  f.close();
  CliResult r = run_cli(tiny_run(d, "run"));
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_TRUE(r.has("t10k-labels-idx1-ubyte")) << r.out;
  EXPECT_TRUE(r.has("255")) << r.out;
}

TEST(CliTrain, WrongFileAsCheckpointIsNamedWithoutABacktrace) {
  TinyIdx d;
  const std::string model = std::string(DS_TEST_DATA_DIR) + "/smallcnn_fmnist_ds3.dsm";
  for (const std::string& f : {model, d.dir.str("train-images-idx3-ubyte")}) {
    CliResult r = run_cli({"train", "--resume", f, "--quiet"});
    EXPECT_NE(r.rc, 0);
    EXPECT_TRUE(r.has(f)) << r.out;
    EXPECT_FALSE(r.has("frame #")) << r.out;
  }
}

}  // namespace
}  // namespace ds::testing
