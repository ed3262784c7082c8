// `denseshift eval / infer / bench / export` as a user runs them: never a silent wrong answer.
// A kernel that cannot represent the model is refused, eval reads the dataset the model records,
// infer tells files apart by content, non-finite logits fail the command, every numeric flag is
// range-checked, and errors name the file. The model is the committed reference model (smallcnn,
// DenseShift 3-bit, Fashion-MNIST 28x28, a format-version-1 file) or a rewritten copy of it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cli/cli_util.h"
#include "core/model_format.h"
#include "train/synthetic_idx.h"

namespace ds::testing {
namespace {

const std::string kModel = std::string(DS_TEST_DATA_DIR) + "/smallcnn_fmnist_ds3.dsm";
const std::string kFashion = "/usr/share/datasets/fashion-mnist";

// The reference model with `edit` applied, written to `path` (format version 2).
void rewrite_model(const std::string& path, const std::function<void(core::ModelDesc&)>& edit) {
  const core::Container c = core::Container::open(kModel);
  core::ModelDesc m = core::read_model(c);
  for (auto& n : m.nodes) {  // read_model gives views into `c`: the writer wants owned data
    if (n.wkind == core::WeightKind::kNone) continue;
    n.own_w.assign(n.wdata, n.wdata + n.wsize);
    n.own_scale.assign(n.scale, n.scale + n.rows);
    n.own_bias.assign(n.bias, n.bias + n.rows);
  }
  edit(m);
  core::write_model(m, path);
}

// <dir>/<prefix>-images-idx3-ubyte (28x28, pixel values from i) and -labels-idx1-ubyte.
void write_idx(const std::filesystem::path& dir, const std::string& prefix, const std::vector<uint8_t>& labels) {
  std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
  std::ofstream lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
  put_be32(img, 0x803), put_be32(img, uint32_t(labels.size())), put_be32(img, 28), put_be32(img, 28);
  put_be32(lab, 0x801), put_be32(lab, uint32_t(labels.size()));
  for (size_t i = 0; i < labels.size(); ++i) {
    lab.put(char(labels[i]));
    for (int p = 0; p < 28 * 28; ++p) img.put(char(uint8_t((p * 7 + i * 31) % 256)));
  }
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A 2x2 RGB PNG.
const std::vector<uint8_t> kPng = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00, 0x10, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x38, 0x91, 0x62, 0x04, 0x44, 0x0c, 0x10, 0x0a, 0x00, 0x28, 0xae, 0x05, 0x79,
    0x42, 0xe1, 0x27, 0xee, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

// The text after `marker` in the output ("" when absent).
std::string after(const CliResult& r, const std::string& marker) {
  const size_t at = r.out.find(marker);
  return at == std::string::npos ? "" : r.out.substr(at + marker.size());
}

// `eval --kernel f32_shiftzero_avx2` ran the DenseShift model on a zero-weight kernel: 39% -> 16.55%.
TEST(CliEngine, KernelThatCannotRunTheModelIsRefused) {
  CliResult r = run_cli({"eval", kModel, kFashion, "--kernel", "f32_shiftzero_scalar", "--threads", "1"});
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_TRUE(r.has("smallcnn_fmnist_ds3.dsm: kernel 'f32_shiftzero_scalar' runs shift-with-zero weights")) << r.out;
  EXPECT_TRUE(r.has("the model has DenseShift weights")) << r.out;
  const std::string usable = after(r, "kernels that can run this model here: ");
  EXPECT_TRUE(usable.find("f32_expadd_scalar") != std::string::npos) << r.out;
  EXPECT_EQ(usable.find("shiftzero"), std::string::npos) << "suggests a kernel that cannot run it: " << r.out;

  // `--kernel all` offers only kernels that can run the model.
  CliResult all = run_cli({"bench", kModel, "--kernel", "all", "--reps", "1", "--batch", "2", "--threads", "1"});
  ASSERT_EQ(all.rc, 0) << all.out;
  EXPECT_TRUE(all.has("f32_expadd_scalar")) << all.out;
  EXPECT_FALSE(all.has("shiftzero")) << all.out;
}

// `eval MODEL` used the built-in Fashion-MNIST whatever the model was trained on.
TEST(CliEngine, EvalWithoutDataUsesTheDatasetTheModelRecords) {
  CliTempDir dir;
  // The committed model is a version-1 file: no dataset recorded.
  CliResult old = run_cli({"eval", kModel, "--threads", "1"});
  EXPECT_NE(old.rc, 0) << old.out;
  EXPECT_TRUE(old.has("smallcnn_fmnist_ds3.dsm does not record the dataset it was trained on")) << old.out;
  EXPECT_TRUE(old.has("give DATA")) << old.out;

  const std::string gone = dir.str("gone.dsm");
  rewrite_model(gone, [&](core::ModelDesc& m) { m.info.dataset = dir.str("no-such-dataset"); });
  CliResult missing = run_cli({"eval", gone, "--threads", "1"});
  EXPECT_NE(missing.rc, 0) << missing.out;
  EXPECT_TRUE(missing.has("was trained on " + dir.str("no-such-dataset") + ", which does not exist here: give DATA"))
      << missing.out;

  // A recorded dataset other than the built-in one is the one read (its 12x12 samples do not fit).
  write_quadrant_idx(dir.path, "train", 8, 1);
  write_quadrant_idx(dir.path, "t10k", 8, 2);
  const std::string other = dir.str("other.dsm");
  rewrite_model(other, [&](core::ModelDesc& m) { m.info.dataset = dir.str(); });
  CliResult o = run_cli({"eval", other, "--threads", "1"});
  EXPECT_NE(o.rc, 0) << o.out;
  EXPECT_TRUE(o.has(dir.str() + ": samples are 1x12x12, " + other + " takes 1x28x28")) << o.out;

  // Recording the built-in dataset gives the same result as naming it.
  const std::string fmnist = dir.str("fmnist.dsm");
  rewrite_model(fmnist, [&](core::ModelDesc& m) { m.info.dataset = kFashion; });
  CliResult rec = run_cli({"eval", fmnist, "--threads", "2"});
  CliResult named = run_cli({"eval", kModel, kFashion, "--threads", "2"});
  ASSERT_EQ(rec.rc, 0) << rec.out;
  ASSERT_EQ(named.rc, 0) << named.out;
  EXPECT_TRUE(rec.has("(10000 images")) << rec.out;
  EXPECT_EQ(rec.out.substr(0, rec.out.find("images,")), named.out.substr(0, named.out.find("images,")));
}

// export records the run's dataset, absolute; eval without DATA then evaluates on it.
TEST(CliEngine, ExportRecordsTheDatasetAndEvalUsesIt) {
  CliTempDir dir;
  std::filesystem::create_directories(dir.path / "data");
  write_quadrant_idx(dir.path / "data", "train", 64, 1);
  write_quadrant_idx(dir.path / "data", "t10k", 24, 2);
  CliResult t = run_cli({"train", dir.str("data"), "--arch", "smallcnn", "--epochs", "1", "--batch-size", "32", "--threads", "1",
                         "--workers", "1", "--quiet", "--out", dir.str("run")});
  ASSERT_EQ(t.rc, 0) << t.out;
  const std::string model = dir.str("tiny.dsm");
  CliResult ex = run_cli({"export", dir.str("run"), "-o", model});
  ASSERT_EQ(ex.rc, 0) << ex.out;
  const core::Container c = core::Container::open(model);
  EXPECT_EQ(c.version(), core::kFormatVersion);
  EXPECT_EQ(core::read_model(c).info.dataset, std::filesystem::absolute(dir.str("data")).lexically_normal().string());
  CliResult ev = run_cli({"eval", model, "--threads", "1"});
  ASSERT_EQ(ev.rc, 0) << ev.out;
  EXPECT_TRUE(ev.has("(24 images")) << ev.out;
}

// eval opens the test split with the model's classes: a label beyond them is an error, not a read
// past the logits.
TEST(CliEngine, EvalRefusesLabelsOutsideTheModelsClasses) {
  CliTempDir dir;
  write_idx(dir.path, "train", {0, 1, 2, 12});
  write_idx(dir.path, "t10k", {0, 12, 3});
  CliResult r = run_cli({"eval", kModel, dir.str(), "--threads", "1"});
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_TRUE(r.has("12")) << r.out;
  EXPECT_TRUE(r.has("t10k-labels-idx1-ubyte")) << r.out;
}

// infer decided "IDX" by "idx" anywhere in the path; now by the file's first bytes.
TEST(CliEngine, InferTellsFilesApartByContent) {
  CliTempDir dir;
  write_idx(dir.path, "t10k", {0, 1, 2});
  const std::string bin = dir.str("digits.bin"), photo = dir.str("idx_photo.png"), text = dir.str("notes.idx");
  std::filesystem::rename(dir.str("t10k-images-idx3-ubyte"), bin);
  std::filesystem::copy_file(bin, dir.str("packed"));
  ASSERT_EQ(std::system(("gzip -q " + shell_quote(dir.str("packed"))).c_str()), 0);
  write_bytes(photo, kPng);
  write_bytes(text, {'h', 'e', 'l', 'l', 'o', '\n'});

  CliResult r = run_cli({"infer", kModel, bin, dir.str("packed.gz"), photo, "--limit", "2", "--top", "3", "--threads", "1"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(r.has(bin + "[0]:")) << r.out;
  EXPECT_TRUE(r.has(bin + "[1]:")) << r.out;
  EXPECT_FALSE(r.has(bin + "[2]:")) << "--limit 2 takes two images: " << r.out;
  EXPECT_TRUE(r.has(dir.str("packed.gz") + "[1]:")) << r.out;
  EXPECT_TRUE(r.has(photo + ":")) << r.out;

  CliResult bad = run_cli({"infer", kModel, text});
  EXPECT_NE(bad.rc, 0) << bad.out;
  EXPECT_TRUE(bad.has(text + " is not a JPEG, PNG or IDX image file")) << bad.out;
}

// Non-finite logits counted as correct: top-1 100% for NaN outputs. A huge (finite) last scale
// makes the logits overflow to infinity.
TEST(CliEngine, NonFiniteLogitsFailEvalAndInfer) {
  CliTempDir dir;
  const std::string model = dir.str("overflow.dsm");
  rewrite_model(model, [](core::ModelDesc& m) { m.nodes.back().own_scale.assign(m.nodes.back().rows, 3e38f); });
  CliResult e = run_cli({"eval", model, kFashion, "--threads", "2"});
  EXPECT_NE(e.rc, 0) << e.out;
  EXPECT_TRUE(e.has(model + " on kernel f32_")) << e.out;
  EXPECT_TRUE(e.has(" of 10000 images gave non-finite logits")) << e.out;
  EXPECT_FALSE(e.has("top-1")) << e.out;

  write_idx(dir.path, "t10k", {0, 1, 2, 3});
  CliResult i = run_cli({"infer", model, dir.str("t10k-images-idx3-ubyte"), "--threads", "1"});
  EXPECT_NE(i.rc, 0) << i.out;
  EXPECT_TRUE(i.has(" of 4 images gave non-finite logits")) << i.out;
  EXPECT_FALSE(i.has("%")) << "printed results: " << i.out;
}

// Every numeric flag out of range is refused naming the flag (--top -100 and --reps 0 crashed,
// --batch 100000 reached 16.5 GB).
TEST(CliEngine, NumericFlagsOutOfRangeAreRefused) {
  CliTempDir dir;
  write_idx(dir.path, "t10k", {0});
  const std::string idx = dir.str("t10k-images-idx3-ubyte");
  const std::vector<std::vector<std::string>> cases = {
      {"infer", kModel, idx, "--top", "0"},        {"infer", kModel, idx, "--top", "-100"},
      {"infer", kModel, idx, "--limit", "0"},      {"infer", kModel, idx, "--threads", "-1"},
      {"bench", kModel, "--reps", "0"},            {"bench", kModel, "--reps", "-5"},
      {"bench", kModel, "--batch", "0"},           {"bench", kModel, "--batch", "100000"},
      {"bench", kModel, "--threads", "-2"},        {"eval", kModel, kFashion, "--batch", "-1"},
      {"eval", kModel, kFashion, "--batch", "100000"}, {"eval", kModel, kFashion, "--threads", "100000"}};
  for (const auto& args : cases) {
    const std::string flag = args[args.size() - 2];
    CliResult r = run_cli(args, 60);
    EXPECT_TRUE(r.rc != 0 && r.rc < 128) << flag << " " << args.back() << " (rc " << r.rc << "):\n" << r.out;
    EXPECT_TRUE(r.has(flag)) << "the error does not name " << flag << ":\n" << r.out;
  }
  CliResult big = run_cli({"bench", kModel, "--batch", "100000"}, 60);
  EXPECT_TRUE(big.has("images per run (4 GiB of activations)")) << big.out;
}

// Errors name the file and carry no libtorch backtrace.
TEST(CliEngine, ErrorsNameTheFile) {
  CliTempDir dir;
  const std::string junk = dir.str("junk.pt");
  write_bytes(junk, {'n', 'o', 't', ' ', 'a', ' ', 'c', 'h', 'e', 'c', 'k', 'p', 'o', 'i', 'n', 't'});
  CliResult ex = run_cli({"export", junk, "-o", dir.str("out.dsm")});
  EXPECT_NE(ex.rc, 0) << ex.out;
  EXPECT_TRUE(ex.has(junk)) << ex.out;
  EXPECT_FALSE(ex.has("frame #")) << ex.out;

  CliResult against = run_cli({"eval", kModel, kFashion, "--against", kModel, "--threads", "1"});
  EXPECT_NE(against.rc, 0) << against.out;
  EXPECT_TRUE(against.has(kModel)) << against.out;
  EXPECT_FALSE(against.has("frame #")) << against.out;

  CliResult missing = run_cli({"infer", dir.str("absent.dsm"), junk});
  EXPECT_NE(missing.rc, 0) << missing.out;
  EXPECT_TRUE(missing.has(dir.str("absent.dsm"))) << missing.out;
}

}  // namespace
}  // namespace ds::testing
