// `denseshift-run`, the deployment CLI without libtorch: it must not link libtorch, and it must
// give what `denseshift` gives (the same engine, preprocessing and messages), in text, JSON and CSV.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "data/image_writers.h"

namespace ds::testing {
namespace {

const std::string kModel = std::string(DS_TEST_DATA_DIR) + "/smallcnn_fmnist_ds3.dsm";
const std::string kFashion = "/usr/share/datasets/fashion-mnist";
const std::string kFashionImages = kFashion + "/t10k-images-idx3-ubyte.gz";

// The shared libraries `binary` names in its dynamic section (readelf -d, NEEDED).
std::vector<std::string> needed(const std::string& binary) {
  CliResult r = run_binary("readelf", {"-d", binary}, 60);
  std::vector<std::string> out;
  std::istringstream lines(r.out);
  for (std::string l; std::getline(lines, l);)
    if (l.find("(NEEDED)") != std::string::npos) out.push_back(l.substr(l.find('[') + 1, l.find(']') - l.find('[') - 1));
  return out;
}

bool any_torch(const std::vector<std::string>& libs) {
  for (const auto& l : libs)
    if (l.find("torch") != std::string::npos || l.find("c10") != std::string::npos) return true;
  return false;
}

// A 40x30 RGB picture as PNG and JPEG (gradients, so resizing and luminance matter).
std::vector<uint8_t> gradient(int w, int h) {
  std::vector<uint8_t> px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) px.insert(px.end(), {uint8_t(x * 6), uint8_t(y * 8), uint8_t((x * y) % 256)});
  return px;
}

struct Pictures {
  CliTempDir dir;
  std::string png = dir.str("shirt.png"), jpeg = dir.str("shoe.jpg");
  Pictures() {
    data::testing::write_rgb_png(png, 40, 30, gradient(40, 30));
    const std::vector<uint8_t> jpg = data::testing::encode_jpeg(30, 40, gradient(30, 40));
    std::ofstream(jpeg, std::ios::binary).write(reinterpret_cast<const char*>(jpg.data()), std::streamsize(jpg.size()));
  }
};

nlohmann::json parse_json(const CliResult& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "):\n" << r.out;
    return {};
  }
}

TEST(CliDeploy, DoesNotLinkLibtorch) {
  const std::vector<std::string> run = needed(DS_RUN_BINARY), full = needed(DS_CLI_BINARY);
  ASSERT_FALSE(run.empty()) << "readelf found no NEEDED entries in " << DS_RUN_BINARY;
  EXPECT_FALSE(any_torch(run)) << DS_RUN_BINARY << " links libtorch";
  // The same check sees libtorch where it is: the method can fail.
  EXPECT_TRUE(any_torch(full)) << DS_CLI_BINARY << ": no libtorch among its NEEDED entries";
}

// The same predictions and logits as `denseshift infer`, on an IDX file, a PNG and a JPEG.
TEST(CliDeploy, InferGivesTheSameAsDenseshift) {
  Pictures pics;
  const std::vector<std::string> args = {"infer", kModel, kFashionImages, pics.png, pics.jpeg, "--limit", "5", "--threads", "1"};
  std::vector<std::string> json_args = args;
  json_args.insert(json_args.end(), {"--format", "json", "--logits", "--top", "3"});
  CliResult a = run_deploy_cli(json_args), b = run_cli(json_args);
  ASSERT_EQ(a.rc, 0) << a.out;
  ASSERT_EQ(b.rc, 0) << b.out;
  const nlohmann::json ja = parse_json(a), jb = parse_json(b);
  ASSERT_EQ(ja["inputs"].size(), 7u) << a.out;  // 5 IDX images, the PNG, the JPEG
  EXPECT_EQ(ja["inputs"], jb["inputs"]);        // names, classes, probabilities, logits: equal
  EXPECT_EQ(ja["inputs"][5]["input"], pics.png);
  EXPECT_EQ(ja["inputs"][6]["input"], pics.jpeg);
  EXPECT_EQ(ja["inputs"][0]["logits"].size(), 10u);
  EXPECT_EQ(ja["inputs"][0]["top"][0]["class"], "Ankle boot");  // Fashion-MNIST's first test image

  CliResult ta = run_deploy_cli(args), tb = run_cli(args);
  ASSERT_EQ(ta.rc, 0) << ta.out;
  EXPECT_EQ(ta.out, tb.out);
  EXPECT_TRUE(ta.has(kFashionImages + "[4]:")) << ta.out;
}

// CSV: a header and one row per input, the same numbers as JSON.
TEST(CliDeploy, InferCsvAndJsonAgree) {
  Pictures pics;
  const std::vector<std::string> base = {"infer", kModel, kFashionImages, pics.png, "--limit", "3", "--top", "2", "--logits",
                                         "--threads", "1"};
  std::vector<std::string> csv_args = base, json_args = base;
  csv_args.insert(csv_args.end(), {"--format", "csv"});
  json_args.insert(json_args.end(), {"--format", "json"});
  CliResult c = run_deploy_cli(csv_args), j = run_deploy_cli(json_args);
  ASSERT_EQ(c.rc, 0) << c.out;
  ASSERT_EQ(j.rc, 0) << j.out;
  const nlohmann::json js = parse_json(j);
  std::istringstream lines(c.out);
  std::vector<std::vector<std::string>> rows;
  for (std::string l; std::getline(lines, l);) {
    std::vector<std::string> f;
    std::istringstream fields(l);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    rows.push_back(f);
  }
  ASSERT_EQ(rows.size(), 5u) << c.out;  // header + 3 IDX images + the PNG
  ASSERT_EQ(rows[0].size(), 1u + 2 * 3 + 10) << c.out;
  EXPECT_EQ(rows[0][0], "input");
  EXPECT_EQ(rows[0][7], "logit_0");
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), rows[0].size()) << c.out;
    const nlohmann::json& in = js["inputs"][i - 1];
    EXPECT_EQ(rows[i][0], in["input"].get<std::string>());
    EXPECT_EQ(rows[i][1], in["top"][0]["class"].get<std::string>());
    EXPECT_EQ(std::stoi(rows[i][2]), in["top"][0]["index"].get<int>());
    for (size_t k = 0; k < 10; ++k)  // %.9g reads back as the same float
      EXPECT_EQ(std::stof(rows[i][7 + k]), in["logits"][k].get<float>()) << "input " << i << " logit " << k;
  }
}

// eval --format json: per-class accuracy and a confusion matrix that sums to the image count,
// whose diagonal is the top-1; the same from both binaries.
TEST(CliDeploy, EvalConfusionMatrix) {
  CliResult r = run_deploy_cli({"eval", kModel, kFashion, "--format", "json", "--threads", "2"});
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json j = parse_json(r);
  ASSERT_EQ(j["results"].size(), 1u) << r.out;
  const nlohmann::json& res = j["results"][0];
  const auto confusion = res["confusion"].get<std::vector<std::vector<size_t>>>();
  ASSERT_EQ(confusion.size(), 10u);
  size_t total = 0, diagonal = 0;
  for (size_t t = 0; t < confusion.size(); ++t) {
    ASSERT_EQ(confusion[t].size(), 10u);
    size_t row = 0;
    for (size_t v : confusion[t]) row += v;
    EXPECT_EQ(res["per_class"][t]["images"].get<size_t>(), row);
    EXPECT_NEAR(res["per_class"][t]["top1"].get<double>(), 100.0 * double(confusion[t][t]) / double(row), 1e-9);
    total += row, diagonal += confusion[t][t];
  }
  EXPECT_EQ(total, 10000u);
  EXPECT_EQ(total, res["images"].get<size_t>());
  EXPECT_NEAR(res["top1"].get<double>(), 100.0 * double(diagonal) / double(total), 1e-9);
  EXPECT_EQ(j["classes"][9], "Ankle boot");

  CliResult full = run_cli({"eval", kModel, kFashion, "--format", "json", "--threads", "2"});
  ASSERT_EQ(full.rc, 0) << full.out;
  EXPECT_EQ(parse_json(full)["results"][0]["confusion"], res["confusion"]);

  CliResult text = run_deploy_cli({"eval", kModel, kFashion, "--threads", "2"});
  ASSERT_EQ(text.rc, 0) << text.out;
  EXPECT_TRUE(text.has("per-class top-1: T-shirt/top ")) << text.out;
  EXPECT_TRUE(text.has("(10000 images")) << text.out;
}

TEST(CliDeploy, InfoDescribesTheModel) {
  CliResult r = run_deploy_cli({"info", kModel});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(r.has("input: 1x28x28 floats")) << r.out;
  EXPECT_TRUE(r.has("mean [0.2860], std [0.3530]")) << r.out;
  EXPECT_TRUE(r.has("classes (10): 0 T-shirt/top, 1 Trouser")) << r.out;
  EXPECT_TRUE(r.has("conv2d 16->16 3x3/1, 3-bit codes, relu -> 16x28x28")) << r.out;
  EXPECT_TRUE(r.has("denseshift           3       16x144          992")) << r.out;  // 16*144*3/8 + 2*16*4 bytes
  const std::string kernels = r.out.substr(r.out.find("kernels that can run it here: "));
  EXPECT_NE(kernels.find("f32_expadd_scalar"), std::string::npos) << r.out;
  EXPECT_EQ(kernels.find("shiftzero"), std::string::npos) << "a zero-weight kernel cannot run DenseShift codes: " << r.out;
  CliResult same = run_cli({"info", kModel});
  EXPECT_EQ(same.out, r.out);
}

// The hardened checks hold in the torch-free binary too, and --against names where it works.
TEST(CliDeploy, ChecksAndMessagesAreKept) {
  CliTempDir dir;
  const std::string text = dir.str("notes.idx");
  std::ofstream(text) << "hello\n";
  CliResult bad = run_deploy_cli({"infer", kModel, text});
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_TRUE(bad.has("denseshift-run: error: " + text + " is not a JPEG, PNG or IDX image file")) << bad.out;

  CliResult top = run_deploy_cli({"infer", kModel, kFashionImages, "--top", "0"});
  EXPECT_NE(top.rc, 0) << top.out;
  EXPECT_TRUE(top.has("--top")) << top.out;
  CliResult big = run_deploy_cli({"bench", kModel, "--batch", "100000"}, 60);
  EXPECT_TRUE(big.has("images per run (4 GiB of activations)")) << big.out;
  CliResult fmt = run_deploy_cli({"infer", kModel, kFashionImages, "--format", "xml"});
  EXPECT_NE(fmt.rc, 0) << fmt.out;
  EXPECT_TRUE(fmt.has("--format")) << fmt.out;

  CliResult against = run_deploy_cli({"eval", kModel, kFashion, "--against", kModel});
  EXPECT_EQ(against.rc, 1) << against.out;
  EXPECT_TRUE(against.has("--against " + kModel + ": the trainer's logits need libtorch")) << against.out;
  EXPECT_TRUE(against.has("denseshift eval")) << against.out;
}

}  // namespace
}  // namespace ds::testing
