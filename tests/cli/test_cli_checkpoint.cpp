// `train --resume` and `export` given something other than a good checkpoint: exit 1 with a
// message that names the file and says what it is and what was expected; never a libtorch
// backtrace ("frame #0: c10::Erro..." before), never a crash, never a silent load.
#include <gtest/gtest.h>

#include <fstream>

#include "cli/cli_util.h"
#include "core/container.h"
#include "train/checkpoint.h"
#include "train/models.h"
#include "train/synthetic_idx.h"

namespace ds::testing {
namespace {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(CliCheckpoint, WrongFilesAreNamedForWhatTheyAre) {
  CliTempDir dir;
  write_quadrant_idx(dir.path, "train", 64, 1);
  write_quadrant_idx(dir.path, "t10k", 32, 2);
  core::ContainerWriter dsm;
  dsm.add("META", {1, 2, 3});
  dsm.write(dir.str("model.dsm"));
  write_file(dir.str("photo.jpg"), std::string("\xff\xd8\xff\xe0\0\x10JFIF", 10));
  write_file(dir.str("empty.pt"), "");
  write_file(dir.str("result.json"), "{\"top1\": 91.2}\n");
  std::filesystem::create_directories(dir.str("not_a_run"));
  // A real checkpoint with one weight byte flipped, as a bad disk or copy leaves it.
  {
    ModelConfig mc;
    mc.arch = "smallcnn", mc.in_channels = 1, mc.num_classes = 4;
    Checkpoint c;
    c.epoch = 1, c.config_json = "{}";
    c.model = state_of(*make_model(mc));
    save_checkpoint(c, dir.str("damaged.pt"));
    std::fstream f(dir.str("damaged.pt"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff mid = f.tellg() / 2;  // inside the weights, which fill most of the file
    f.seekg(mid);
    const char b = char(f.get() ^ 0x10);
    f.seekp(mid);
    f.put(b);
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir.str("model.dsm"), "denseshift model file (.dsm)"},
      {dir.str("photo.jpg"), "a JPEG image"},
      {dir.str("empty.pt"), "is empty (0 bytes)"},
      {dir.str("result.json"), "JSON text"},
      {dir.str("not_a_run"), "folder without last.pt"},
      {dir.str("damaged.pt"), "checksum mismatch"},
  };
  for (const auto& [file, what] : cases) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"train", dir.str(), "--resume", file, "--out", dir.str("run"), "--quiet"},
             {"export", file, "-o", dir.str("out.dsm")}}) {
      const CliResult r = run_cli(args, 120);
      const std::string cmd = args[0] + " " + file;
      EXPECT_EQ(r.rc, 1) << cmd << ":\n" << r.out;
      EXPECT_TRUE(r.has(file)) << cmd << ": the error does not name the file:\n" << r.out;
      EXPECT_TRUE(r.has(what)) << cmd << ": expected '" << what << "':\n" << r.out;
      EXPECT_FALSE(r.has("frame #") || r.has("c10::")) << cmd << ": libtorch internals:\n" << r.out;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir.str("out.dsm")));
}

}  // namespace
}  // namespace ds::testing
