// Writes the seed corpus: fuzz_make_seeds DIR writes DIR/<harness>/<seed> for every harness of
// this build (tiny valid inputs that reach deep into each reader; a few KB each). Rerun it after
// a format change and commit the result:
//   cmake --build build --target fuzz_make_seeds && build/tests/fuzz_make_seeds fuzz/corpus
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/codes.h"
#include "core/model_format.h"
#include "data/image_writers.h"
#include "data/test_util.h"
#ifdef DS_SEEDS_CHECKPOINT
#include "train/checkpoint.h"
#endif

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using ds::core::NodeDesc;
using ds::core::OpKind;
using ds::core::WeightKind;

fs::path g_root;
std::mt19937 g_rng(7);

fs::path seed_path(const std::string& harness, const std::string& name) {
  fs::create_directories(g_root / harness);
  return g_root / harness / name;
}

void write_seed(const std::string& harness, const std::string& name, const Bytes& b) {
  ds::data::testing::write_bytes(seed_path(harness, name), b);
}

Bytes gzip(const Bytes& in) {
  z_stream zs{};
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  Bytes out(deflateBound(&zs, uLong(in.size())) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = uInt(in.size());
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(zs.total_out);
  return out;
}

Bytes pattern(size_t n, unsigned mul) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(i * mul + i / 7);
  return b;
}

// ---- .dsm: four tiny models that together use every op, weight kind and bit width ----

void set_weights(NodeDesc& n, uint32_t rows, uint32_t cols, WeightKind kind, int bits) {
  n.wkind = kind, n.rows = rows, n.cols = cols;
  if (kind == WeightKind::kFloat32) {
    n.bits = 32, n.row_bytes = cols * 4;
    std::vector<float> w(size_t(rows) * cols);
    std::normal_distribution<float> d(0.f, 0.5f);
    for (float& x : w) x = d(g_rng);
    n.own_w.resize(w.size() * 4);
    std::memcpy(n.own_w.data(), w.data(), n.own_w.size());
  } else {
    n.bits = uint32_t(bits), n.row_bytes = uint32_t(ds::core::packed_bytes(cols, bits));
    n.own_w.resize(size_t(rows) * n.row_bytes);
    std::vector<uint8_t> codes(cols);
    for (uint32_t r = 0; r < rows; ++r) {
      for (auto& c : codes) c = uint8_t(g_rng() % (1u << bits));
      ds::core::pack_codes(codes.data(), cols, bits, n.own_w.data() + size_t(r) * n.row_bytes);
    }
  }
  for (uint32_t r = 0; r < rows; ++r) {
    n.own_scale.push_back(0.25f + 0.125f * float(r % 3));
    n.own_bias.push_back(0.0625f * float(r % 4) - 0.1f);
  }
}

NodeDesc conv(std::vector<uint32_t> in, int cin, int cout, int k, int s, int pad, int dil, int groups, bool relu,
              WeightKind kind, int bits) {
  NodeDesc n;
  n.op = OpKind::kConv2d, n.inputs = std::move(in);
  n.params = {cin, cout, k, k, s, pad, dil, groups, relu ? 1 : 0};
  set_weights(n, uint32_t(cout), uint32_t(cin / groups * k * k), kind, bits);
  return n;
}

NodeDesc linear(uint32_t x, int in, int out, bool relu, WeightKind kind, int bits) {
  NodeDesc n;
  n.op = OpKind::kLinear, n.inputs = {x}, n.params = {in, out, relu ? 1 : 0};
  set_weights(n, uint32_t(out), uint32_t(in), kind, bits);
  return n;
}

NodeDesc op(OpKind kind, std::vector<uint32_t> in, std::vector<int32_t> params = {}) {
  NodeDesc n;
  n.op = kind, n.inputs = std::move(in), n.params = std::move(params);
  return n;
}

ds::core::ModelInfo info(uint32_t c, uint32_t h, uint32_t w, uint32_t classes, bool names) {
  ds::core::ModelInfo i;
  i.in_c = c, i.in_h = h, i.in_w = w, i.num_classes = classes;
  i.mean.assign(c, 0.5f), i.std.assign(c, 0.25f);
  for (uint32_t k = 0; names && k < classes; ++k) i.class_names.push_back("class" + std::to_string(k));
  i.arch = "seed", i.method = "denseshift:3";
  return i;
}

void dsm_seeds() {
  ds::core::ModelDesc a;  // FP32 stem, max pool, global pool, 3-bit DenseShift fc
  a.info = info(1, 6, 6, 3, true);
  a.nodes = {conv({0}, 1, 2, 3, 1, 1, 1, 1, true, WeightKind::kFloat32, 0), op(OpKind::kMaxPool, {1}, {2, 2, 0}),
             op(OpKind::kGlobalAvgPool, {2}), linear(3, 2, 3, false, WeightKind::kDenseShift, 3)};
  write_seed("dsm", "stem_maxpool_fc_ds3.dsm", ds::core::serialize_model(a));

  ds::core::ModelDesc b;  // a CIFAR-style residual block: option-A shortcut, residual conv, add
  b.info = info(2, 8, 8, 5, false);
  b.nodes = {conv({0}, 2, 4, 3, 2, 1, 1, 1, true, WeightKind::kDenseShift, 2),  // v1: 4x4x4
             op(OpKind::kShortcutA, {0}, {2, 1, 1}),                              // v2: 4x4x4
             conv({1, 2}, 4, 4, 3, 1, 1, 1, 1, true, WeightKind::kShiftWithZero, 3),
             op(OpKind::kAdd, {3, 1}, {1}),
             op(OpKind::kAvgPool, {4}, {3, 2, 1}),  // 4x2x2
             op(OpKind::kRelu, {5}),
             linear(6, 16, 5, false, WeightKind::kFloat32, 0)};
  write_seed("dsm", "resblock_ds2_sz3.dsm", ds::core::serialize_model(b));

  ds::core::ModelDesc c;  // grouped, dilated 5-bit conv; 2-bit shift-with-zero fc
  c.info = info(4, 5, 7, 2, true);
  c.nodes = {conv({0}, 4, 6, 3, 1, 2, 2, 2, true, WeightKind::kDenseShift, 5), op(OpKind::kGlobalAvgPool, {1}),
             linear(2, 6, 2, false, WeightKind::kShiftWithZero, 2)};
  write_seed("dsm", "grouped_dilated_ds5.dsm", ds::core::serialize_model(c));

  ds::core::ModelDesc d;  // Winograd (3x3 stride 1 pad 1, 32 inputs), 1x1, strided 4-bit; no names
  d.info = info(32, 5, 5, 3, false);
  d.nodes = {conv({0}, 32, 8, 3, 1, 1, 1, 1, true, WeightKind::kDenseShift, 3),
             conv({1}, 8, 4, 1, 1, 0, 1, 1, true, WeightKind::kFloat32, 0),
             conv({2}, 4, 4, 3, 2, 0, 1, 1, false, WeightKind::kShiftWithZero, 4), op(OpKind::kGlobalAvgPool, {3}),
             linear(4, 4, 3, false, WeightKind::kDenseShift, 4)};
  write_seed("dsm", "winograd_1x1_strided.dsm", ds::core::serialize_model(d));
}

// ---- datasets ----

// The idx harness's input: u32 LE length of the images file, the images file, the labels file.
Bytes idx_input(const Bytes& images, const Bytes& labels) {
  Bytes b;
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(images.size() >> (8 * i)));
  b.insert(b.end(), images.begin(), images.end());
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

void idx_seeds() {
  using ds::data::testing::idx_images;
  using ds::data::testing::idx_labels;
  const Bytes im = idx_images(3, 4, 5, pattern(3 * 4 * 5, 37)), lb = idx_labels({1, 0, 2});
  write_seed("idx", "three_4x5.idx", idx_input(im, lb));
  write_seed("idx", "three_4x5_gz.idx", idx_input(gzip(im), gzip(lb)));
  write_seed("idx", "one_1x1.idx", idx_input(idx_images(1, 1, 1, {128}), idx_labels({0})));
  write_seed("idx", "ten_2x3.idx", idx_input(idx_images(10, 2, 3, pattern(60, 11)), idx_labels({9, 8, 7, 6, 5, 4, 3, 2, 1, 0})));
}

void cifar_seeds() {
  constexpr size_t kPixels = 3 * 32 * 32;
  auto record = [&](std::vector<uint8_t> labels, unsigned mul) {
    Bytes r = std::move(labels);
    const Bytes px = pattern(kPixels, mul);
    r.insert(r.end(), px.begin(), px.end());
    return r;
  };
  write_seed("cifar", "cifar10_one.bin", record({3}, 11));
  Bytes two = record({9}, 5);
  const Bytes second = record({0}, 3);
  two.insert(two.end(), second.begin(), second.end());
  write_seed("cifar", "cifar10_two.bin", two);
  write_seed("cifar", "cifar100_one.bin", record({5, 42}, 13));
}

void image_seeds() {
  namespace t = ds::data::testing;
  const Bytes rgb = pattern(16 * 16 * 3, 29), gray = pattern(16 * 16, 17), cmyk = pattern(8 * 8 * 4, 23);
  write_seed("image", "rgb16.jpg", t::encode_jpeg(16, 16, rgb, TJPF_RGB, 90));
  write_seed("image", "gray16.jpg", t::encode_jpeg(16, 16, gray, TJPF_GRAY, 75));
  write_seed("image", "cmyk8.jpg", t::encode_jpeg(8, 8, cmyk, TJPF_CMYK, 80));
  t::write_rgb_png(seed_path("image", "rgb16.png"), 16, 16, rgb);
  t::PngSpec pal;  // 4-bit palette with transparency
  pal.w = 6, pal.h = 5, pal.color_type = PNG_COLOR_TYPE_PALETTE, pal.bit_depth = 4;
  pal.rows = pattern(3 * 5, 7);
  for (int i = 0; i < 16; ++i) pal.palette.push_back(png_color{uint8_t(i * 16), uint8_t(255 - i * 16), uint8_t(i * 5)});
  pal.trns = {0, 128, 255};
  t::write_png(seed_path("image", "palette4_trns.png"), pal);
  t::PngSpec g16;  // 16-bit gray, interlaced
  g16.w = 9, g16.h = 7, g16.color_type = PNG_COLOR_TYPE_GRAY, g16.bit_depth = 16, g16.interlace = true;
  g16.rows = pattern(9 * 7 * 2, 31);
  t::write_png(seed_path("image", "gray16bit_interlaced.png"), g16);
  t::PngSpec ga;  // gray + alpha
  ga.w = 5, ga.h = 4, ga.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  ga.rows = pattern(5 * 4 * 2, 19);
  t::write_png(seed_path("image", "gray_alpha.png"), ga);
}

void gzip_seeds() {
  const Bytes text = pattern(300, 3);
  write_seed("gzip", "pattern.gz", gzip(text));
  Bytes two = gzip(text);
  const Bytes second = gzip(pattern(40, 9));
  two.insert(two.end(), second.begin(), second.end());
  write_seed("gzip", "two_members.gz", two);
  write_seed("gzip", "empty.gz", gzip({}));
}

#ifdef DS_SEEDS_CHECKPOINT
void checkpoint_seeds() {
  ds::Checkpoint c;
  c.epoch = 3, c.best_top1 = 41.5, c.config_json = R"({"arch":"smallcnn","bits":3})";
  torch::manual_seed(1);
  c.model = {{"conv.weight", torch::randn({2, 1, 3, 3})},
             {"bn.running_mean", torch::zeros({2})},
             {"bn.num_batches_tracked", torch::tensor(int64_t(7))}};
  c.momentum = {{"conv.weight", torch::randn({2, 1, 3, 3})}};
  ds::save_checkpoint(c, seed_path("checkpoint", "tiny.pt").string());
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  dsm_seeds();
  idx_seeds();
  cifar_seeds();
  image_seeds();
  gzip_seeds();
#ifdef DS_SEEDS_CHECKPOINT
  checkpoint_seeds();
#endif
  std::printf("seeds written under %s\n", g_root.string().c_str());
  return 0;
}
