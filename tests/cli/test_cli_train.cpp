// `denseshift train` as a user runs it: every flag takes effect or is refused with a reason.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ds::testing
