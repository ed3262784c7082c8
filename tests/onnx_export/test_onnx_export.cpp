// ONNX export on a hand-built graph with every op the engine has (FP32, DenseShift and
// shift-with-zero weights, groups, dilation, residual conv, add, shortcut_a, both pools), and the
// export command's handling of .dsm and checkpoint inputs. ONNX Runtime runs the committed
// data/all_ops.dsm against the engine in python/tests/test_onnxruntime.py.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>

#include "common/temp_dir.h"
#include "core/codes.h"
#include "core/model_format.h"
#include "onnx_export/onnx_export.h"
#include "runtime/engine.h"

namespace ds {
namespace {

using core::NodeDesc;
using core::OpKind;
using core::WeightKind;

const std::string kAllOps = std::string(DS_ONNX_TEST_DATA) + "/all_ops.dsm";
const std::string kReference = std::string(DS_TEST_DATA_DIR) + "/smallcnn_fmnist_ds3.dsm";

struct TempDir : testing::TempDirBase {
  TempDir() : TempDirBase("ds_onnx_test") {}
};

// Weights of `rows` x `cols`: FP32 from a normal distribution, or random packed codes.
void set_weights(NodeDesc& n, WeightKind kind, int bits, uint32_t rows, uint32_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  n.wkind = kind, n.rows = rows, n.cols = cols;
  if (kind == WeightKind::kFloat32) {
    std::normal_distribution<float> d(0.f, 0.3f);
    std::vector<float> w(size_t(rows) * cols);
    for (auto& v : w) v = d(rng);
    n.row_bytes = cols * 4;
    n.own_w.resize(w.size() * 4);
    std::memcpy(n.own_w.data(), w.data(), n.own_w.size());
  } else {
    n.bits = uint32_t(bits);
    n.row_bytes = uint32_t(core::packed_bytes(cols, bits));
    n.own_w.assign(size_t(rows) * n.row_bytes, 0);
    std::vector<uint8_t> codes(cols);
    for (uint32_t r = 0; r < rows; ++r) {
      for (auto& c : codes) c = uint8_t(rng() % (1u << bits));
      core::pack_codes(codes.data(), cols, bits, n.own_w.data() + size_t(r) * n.row_bytes);
    }
  }
  // Folded BatchNorm: small scales, since decoded codes reach 2^15 at 5 bits.
  std::uniform_real_distribution<float> s(0.001f, 0.05f), b(-0.5f, 0.5f);
  for (uint32_t r = 0; r < rows; ++r) n.own_scale.push_back(kind == WeightKind::kFloat32 ? 1.f + s(rng) : s(rng));
  for (uint32_t r = 0; r < rows; ++r) n.own_bias.push_back(b(rng));
}

NodeDesc conv(std::vector<uint32_t> in, int cin, int cout, int k, int s, int pad, int dil, int groups, bool relu,
              WeightKind kind, int bits, uint32_t seed) {
  NodeDesc n;
  n.op = OpKind::kConv2d, n.inputs = std::move(in), n.params = {cin, cout, k, k, s, pad, dil, groups, relu ? 1 : 0};
  set_weights(n, kind, bits, uint32_t(cout), uint32_t(cin / groups * k * k), seed);
  return n;
}

NodeDesc simple(OpKind op, std::vector<uint32_t> in, std::vector<int32_t> params) {
  NodeDesc n;
  n.op = op, n.inputs = std::move(in), n.params = std::move(params);
  return n;
}

NodeDesc linear(uint32_t in, int cin, int cout, bool relu, WeightKind kind, int bits, uint32_t seed) {
  NodeDesc n = simple(OpKind::kLinear, {in}, {cin, cout, relu ? 1 : 0});
  set_weights(n, kind, bits, uint32_t(cout), uint32_t(cin), seed);
  return n;
}

// Input 3x12x10 -> 4 classes; value ids in the comments.
core::ModelDesc all_ops_model() {
  core::ModelDesc m;
  auto& i = m.info;
  i.in_c = 3, i.in_h = 12, i.in_w = 10, i.num_classes = 4;
  i.mean = {0.5f, 0.4f, 0.3f}, i.std = {0.2f, 0.25f, 0.3f};
  i.class_names = {"a", "b \"quoted\"", "c", "d"};
  i.arch = "all_ops", i.method = "mixed";
  auto& n = m.nodes;
  n.push_back(conv({0}, 3, 8, 3, 1, 1, 1, 1, true, WeightKind::kFloat32, 0, 1));        // 1: 8x12x10
  n.push_back(conv({1}, 8, 8, 3, 1, 1, 1, 2, false, WeightKind::kDenseShift, 3, 2));    // 2: groups 2
  n.push_back(simple(OpKind::kAdd, {2, 1}, {1}));                                       // 3: add + relu
  n.push_back(simple(OpKind::kShortcutA, {3}, {2, 2, 2}));                              // 4: 12x6x5
  n.push_back(conv({3, 4}, 8, 12, 3, 2, 2, 2, 1, true, WeightKind::kDenseShift, 4, 3)); // 5: dilation 2, residual
  n.push_back(simple(OpKind::kMaxPool, {5}, {2, 2, 0}));                                // 6: 12x3x2
  n.push_back(simple(OpKind::kAvgPool, {6}, {3, 1, 1}));                                // 7: padding counted
  n.push_back(simple(OpKind::kRelu, {7}, {}));                                          // 8
  n.push_back(conv({8}, 12, 16, 1, 1, 0, 1, 1, false, WeightKind::kShiftWithZero, 3, 4));  // 9: 16x3x2
  n.push_back(simple(OpKind::kGlobalAvgPool, {9}, {}));                                 // 10: 16x1x1
  n.push_back(linear(10, 16, 10, true, WeightKind::kDenseShift, 5, 5));                 // 11
  n.push_back(linear(11, 10, 4, false, WeightKind::kFloat32, 0, 6));                    // 12: logits
  return m;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

// The committed all_ops.dsm is this test's model (DS_WRITE_EXPECTED=1 rewrites it), and the engine
// runs it, so the ONNX Runtime test compares against a graph the engine accepts.
TEST(OnnxExport, CommittedAllOpsModelIsTheOneDescribedHere) {
  const std::vector<uint8_t> bytes = core::serialize_model(all_ops_model());
  if (std::getenv("DS_WRITE_EXPECTED")) {
    core::write_model(all_ops_model(), kAllOps);
    GTEST_SKIP() << "wrote " << kAllOps;
  }
  EXPECT_EQ(read_bytes(kAllOps), bytes);
  rt::Engine e = rt::Engine::load(kAllOps);
  std::vector<float> x(3 * 12 * 10 * 2, 0.5f);
  EXPECT_EQ(e.run(x.data(), 2).size(), 8u);
}

TEST(OnnxExport, EveryOpBecomesStandardOnnx) {
  const core::Container c = core::Container::from_bytes(core::serialize_model(all_ops_model()), "all_ops.dsm");
  const onnx::ModelProto m = parse(onnx_export::to_onnx_bytes(core::read_model(c), "all_ops.dsm"));
  std::map<std::string, int> ops;
  for (const auto& n : m.graph().node()) ++ops[n.op_type()];
  const std::map<std::string, int> want = {{"Conv", 4}, {"Relu", 5}, {"Add", 2}, {"Slice", 1}, {"Pad", 1},
                                           {"MaxPool", 1}, {"AveragePool", 1}, {"GlobalAveragePool", 1},
                                           {"Flatten", 2}, {"Gemm", 2}};
  EXPECT_EQ(ops, want);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  std::map<std::string, std::string> meta;
  for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
  EXPECT_EQ(meta["class_names"], R"(["a", "b \"quoted\"", "c", "d"])");
  EXPECT_EQ(meta["mean"], "[0.5, 0.400000006, 0.300000012]");
  EXPECT_EQ(meta["input_shape"], "[3, 12, 10]");
}

// The DenseShift weights come out as exact powers of two times the folded scale.
TEST(OnnxExport, QuantizedWeightsAreDecodedCodesTimesScale) {
  const core::Container c = core::Container::open(kReference);
  const core::ModelDesc d = core::read_model(c);
  const onnx::ModelProto m = parse(onnx_export::to_onnx_bytes(d, kReference));
  size_t k = 0;
  while (d.nodes[k].wkind != WeightKind::kDenseShift) ++k;
  const NodeDesc& n = d.nodes[k];
  const std::string name = "v" + std::to_string(k + 1) + ".weight";
  const onnx::TensorProto* t = nullptr;
  for (const auto& init : m.graph().initializer())
    if (init.name() == name) t = &init;
  ASSERT_NE(t, nullptr) << name;
  ASSERT_EQ(t->raw_data().size(), size_t(n.rows) * n.cols * 4);
  const float* w = reinterpret_cast<const float*>(t->raw_data().data());
  for (uint32_t r = 0; r < n.rows; r += 7)
    for (uint32_t col = 0; col < n.cols; col += 5) {
      const float code = core::decode_code(core::packed_code_at(n.wdata + size_t(r) * n.row_bytes, col, int(n.bits)), int(n.bits));
      ASSERT_EQ(w[size_t(r) * n.cols + col], code * n.scale[r]) << r << " " << col;
    }
}

TEST(OnnxExport, ADsmInputIsConvertedWithoutTheCheckpointPath) {
  TempDir dir;
  bool called = false;
  const auto r = onnx_export::export_onnx_from(kReference, dir.str("m.onnx"), [&](const std::string&) { called = true; });
  EXPECT_FALSE(called);
  EXPECT_EQ(r.file_bytes, std::filesystem::file_size(dir.str("m.onnx")));
  EXPECT_EQ(r.onnx_nodes, 15u);
  EXPECT_NE(onnx_export::describe(r).find("opset 13"), std::string::npos);
}

TEST(OnnxExport, ACheckpointGoesThroughATemporaryDsmThatIsRemoved) {
  TempDir dir;
  std::string temp;
  const std::string ckpt = dir.str("last.pt");
  std::ofstream(ckpt) << "not a dsm";
  onnx_export::export_onnx_from(ckpt, dir.str("m.onnx"), [&](const std::string& dsm) {
    temp = dsm;
    std::filesystem::copy_file(kReference, dsm);
  });
  EXPECT_EQ(std::filesystem::path(temp).parent_path(), dir.path);
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_TRUE(std::filesystem::exists(dir.str("m.onnx")));

  // A failing checkpoint export leaves neither the ONNX file nor the temporary.
  EXPECT_THROW(onnx_export::export_onnx_from(ckpt, dir.str("n.onnx"),
                                             [&](const std::string& dsm) {
                                               std::ofstream(dsm) << "half";
                                               throw std::runtime_error("checkpoint broken");
                                             }),
               std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir.str("n.onnx")));
  EXPECT_FALSE(std::filesystem::exists(dir.str("n.onnx.export.dsm")));
}

}  // namespace
}  // namespace ds
