// The engine on hand-built models: layers against direct loops, and malformed graphs refused
// with a message (the container's own corruption corpus is in tests/core).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/codes.h"
#include "core/model_format.h"
#include "runtime/engine.h"

namespace ds {
namespace {

using core::ModelDesc;
using core::NodeDesc;

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

NodeDesc conv_node(uint32_t x, int cin, int cout, int k, int s, int pad, int dil, int groups, bool relu,
                   const std::vector<float>& w) {
  NodeDesc n;
  n.op = core::OpKind::kConv2d;
  n.inputs = {x};
  n.params = {cin, cout, k, k, s, pad, dil, groups, relu ? 1 : 0};
  n.wkind = core::WeightKind::kFloat32;
  n.rows = uint32_t(cout), n.cols = uint32_t(cin / groups * k * k), n.row_bytes = n.cols * 4;
  n.own_w.resize(w.size() * 4);
  std::memcpy(n.own_w.data(), w.data(), n.own_w.size());
  n.own_scale.assign(size_t(cout), 0.5f);
  n.own_bias.assign(size_t(cout), 0.25f);
  return n;
}

// A node without weights (pools): op, inputs and params.
NodeDesc op_node(core::OpKind op, std::vector<uint32_t> inputs, std::vector<int32_t> params = {}) {
  NodeDesc n;
  n.op = op, n.inputs = std::move(inputs), n.params = std::move(params);
  return n;
}

// conv_node (ReLU, no dilation) with random 3-bit DenseShift codes from rng for weights, and
// `scale` as every channel's folded BatchNorm scale.
NodeDesc codes_conv_node(uint32_t x, int cin, int cout, int k, int s, int pad, int groups, float scale,
                         std::mt19937& rng) {
  NodeDesc n = conv_node(x, cin, cout, k, s, pad, 1, groups, true, randn(size_t(cout) * cin / groups * k * k, 3));
  n.wkind = core::WeightKind::kDenseShift, n.bits = 3;
  n.row_bytes = uint32_t(core::packed_bytes(n.cols, 3));
  std::vector<uint8_t> c(n.cols);
  n.own_w.assign(size_t(cout) * n.row_bytes, 0);
  for (int r = 0; r < cout; ++r) {
    for (auto& v : c) v = uint8_t(rng() % 8);
    core::pack_codes(c.data(), c.size(), 3, n.own_w.data() + size_t(r) * n.row_bytes);
  }
  n.own_scale.assign(size_t(cout), scale);
  return n;
}

// conv(groups 2, dilation 2, stride 2, pad 2) -> relu -> avgpool 3/2 pad 1 -> global pool -> linear (3-bit codes).
ModelDesc small_model() {
  ModelDesc m;
  m.info.in_c = 4, m.info.in_h = 11, m.info.in_w = 9, m.info.num_classes = 3;
  m.info.mean.assign(4, 0.f), m.info.std.assign(4, 1.f);
  m.nodes.push_back(conv_node(0, 4, 6, 3, 2, 2, 2, 2, true, randn(6 * 2 * 9, 1)));
  m.nodes.push_back(op_node(core::OpKind::kAvgPool, {1}, {3, 2, 1}));
  m.nodes.push_back(op_node(core::OpKind::kGlobalAvgPool, {2}));
  NodeDesc fc;
  fc.op = core::OpKind::kLinear, fc.inputs = {3}, fc.params = {6, 3, 0};
  fc.wkind = core::WeightKind::kDenseShift, fc.bits = 3, fc.rows = 3, fc.cols = 6;
  fc.row_bytes = uint32_t(core::packed_bytes(6, 3));
  std::vector<uint8_t> codes = {0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 7, 6, 5, 4, 3, 2};
  fc.own_w.resize(3 * fc.row_bytes);
  for (int r = 0; r < 3; ++r) core::pack_codes(codes.data() + r * 6, 6, 3, fc.own_w.data() + r * fc.row_bytes);
  fc.own_scale = {1.f, 2.f, 0.5f}, fc.own_bias = {0.f, 1.f, -1.f};
  m.nodes.push_back(fc);
  return m;
}

// The same network with plain loops.
std::vector<float> reference(const ModelDesc& m, const std::vector<float>& x) {
  const NodeDesc& c = m.nodes[0];
  const float* W = reinterpret_cast<const float*>(c.own_w.data());
  const int H = 11, Wd = 9, OH = (H + 4 - 5) / 2 + 1, OW = (Wd + 4 - 5) / 2 + 1;
  std::vector<float> y(size_t(6) * OH * OW);
  for (int o = 0; o < 6; ++o) {
    const int g = o / 3;
    for (int oy = 0; oy < OH; ++oy)
      for (int ox = 0; ox < OW; ++ox) {
        float acc = 0;
        for (int ci = 0; ci < 2; ++ci)
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) {
              int yy = oy * 2 - 2 + i * 2, xx = ox * 2 - 2 + j * 2;
              if (yy < 0 || xx < 0 || yy >= H || xx >= Wd) continue;
              acc += W[((o * 2 + ci) * 3 + i) * 3 + j] * x[(size_t(g * 2 + ci) * H + yy) * Wd + xx];
            }
        y[(size_t(o) * OH + oy) * OW + ox] = std::max(acc * 0.5f + 0.25f, 0.f);
      }
  }
  const int PH = (OH + 2 - 3) / 2 + 1, PW = (OW + 2 - 3) / 2 + 1;
  std::vector<float> feat(6, 0.f);
  for (int o = 0; o < 6; ++o) {
    for (int py = 0; py < PH; ++py)
      for (int px = 0; px < PW; ++px) {
        float acc = 0;
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) {
            int yy = py * 2 - 1 + i, xx = px * 2 - 1 + j;
            if (yy >= 0 && xx >= 0 && yy < OH && xx < OW) acc += y[(size_t(o) * OH + yy) * OW + xx];
          }
        feat[size_t(o)] += acc / 9.f;
      }
    feat[size_t(o)] /= float(PH * PW);
  }
  const NodeDesc& fc = m.nodes[3];
  std::vector<float> out(3);
  for (int r = 0; r < 3; ++r) {
    float acc = 0;
    for (int k = 0; k < 6; ++k)
      acc += core::decode_code(core::packed_code_at(fc.own_w.data() + r * fc.row_bytes, size_t(k), 3), 3) * feat[size_t(k)];
    out[size_t(r)] = acc * fc.own_scale[size_t(r)] + fc.own_bias[size_t(r)];
  }
  return out;
}

TEST(Engine, LayersMatchDirectLoopsForEveryKernel) {
  ModelDesc m = small_model();
  auto bytes = core::serialize_model(m);
  auto x = randn(4 * 11 * 9 * 2, 7);  // batch of 2
  for (const auto& k : kernels::all_kernels()) {
    if (k.weights != kernels::WeightSet::kDenseShift || !k.supported() || k.fp16_activations) continue;
    for (int threads : {1, 3}) {
      rt::Engine e = rt::Engine::from_bytes(bytes, "small.dsm", rt::EngineOptions{k.name, threads});
      auto y = e.run(x.data(), 2);
      ASSERT_EQ(y.size(), 6u);
      for (int b = 0; b < 2; ++b) {
        std::vector<float> img(x.begin() + b * 396, x.begin() + (b + 1) * 396);
        auto ref = reference(m, img);
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(y[size_t(b * 3 + c)], ref[size_t(c)], 1e-4f) << k.name << " image " << b;
      }
    }
  }
}

// Three stride-1 3x3 DenseShift convolutions (5 -> 32 -> 32 with a residual -> 40), then global
// pool and a linear layer: the last two are what a Winograd kernel (kernels/winograd.h) takes
// over (32 input channels or more): F(4x4) from 28x28 on, and below where it computes fewer
// products than F(2x2) with its U kept (9x7: 6 tiles of 36 against 20 of 16), else F(2x2) (5x6:
// 144 products either way).
ModelDesc winograd_model(int h, int w) {
  ModelDesc m;
  m.info.in_c = 5, m.info.in_h = uint32_t(h), m.info.in_w = uint32_t(w), m.info.num_classes = 4;
  m.info.mean.assign(5, 0.f), m.info.std.assign(5, 1.f);
  std::mt19937 rng(5);
  auto codes_conv = [&](uint32_t x, int cin, int cout, bool residual) {
    NodeDesc n = codes_conv_node(x, cin, cout, 3, 1, 1, 1, 0.03f, rng);
    if (residual) n.inputs.push_back(1);
    return n;
  };
  m.nodes.push_back(codes_conv(0, 5, 32, false));
  m.nodes.push_back(codes_conv(1, 32, 32, true));
  m.nodes.push_back(codes_conv(2, 32, 40, false));
  m.nodes.push_back(op_node(core::OpKind::kGlobalAvgPool, {3}));
  NodeDesc fc = conv_node(4, 40, 4, 1, 1, 0, 1, 1, false, randn(160, 4));
  fc.op = core::OpKind::kLinear, fc.params = {40, 4, 0};
  m.nodes.push_back(fc);
  return m;
}

TEST(Engine, WinogradKernelsMatchTheExactKernel) {
  int ran = 0;
  for (auto [h, w] : {std::pair{5, 6}, std::pair{9, 7}, std::pair{28, 29}}) {
    auto bytes = core::serialize_model(winograd_model(h, w));
    auto x = randn(size_t(5 * h * w * 3), 11);  // batch of 3
    auto exact = rt::Engine::from_bytes(bytes, "wino.dsm", rt::EngineOptions{"f32_expadd_scalar", 1}).run(x.data(), 3);
    for (const auto& k : kernels::all_kernels()) {
      if (!k.winograd || !k.supported()) continue;
      ++ran;
      for (int threads : {1, 3}) {
        auto y = rt::Engine::from_bytes(bytes, "wino.dsm", rt::EngineOptions{k.name, threads}).run(x.data(), 3);
        ASSERT_EQ(y.size(), exact.size());
        for (size_t i = 0; i < y.size(); ++i)
          EXPECT_NEAR(y[i], exact[i], 1e-4f * (1.f + std::fabs(exact[i]))) << k.name << " " << h << "x" << w << " logit " << i;
        if (h * w >= k.winograd->min_out_pixels) {
          // Winograd rounds differently from the direct product: equal logits would mean the
          // convolutions did not take the Winograd path.
          EXPECT_NE(y, exact) << k.name << " " << h << "x" << w;
        } else {
          // Below the kernel's threshold the layers run on its own direct product, bit for bit.
          const kernels::KernelInfo* own = nullptr;
          for (const auto& o : kernels::all_kernels())
            if (!o.winograd && o.panel == k.panel && o.supported()) own = &o;
          ASSERT_NE(own, nullptr) << k.name;
          EXPECT_EQ(y, rt::Engine::from_bytes(bytes, "wino.dsm", rt::EngineOptions{own->name, threads}).run(x.data(), 3))
              << k.name << " " << h << "x" << w << " against " << own->name;
        }
      }
    }
  }
  if (!ran) GTEST_SKIP() << "no Winograd kernel runs on this CPU";
}

// A batch whose widest activation passes the run's chunk (8 x 256 x 256 floats: 2 MB an image)
// runs through the network a chunk at a time: each image's outputs as when it runs alone.
TEST(Engine, LargeBatchRunsInChunksWithTheSameOutputs) {
  ModelDesc m;
  m.info.in_c = 8, m.info.in_h = 256, m.info.in_w = 256;
  m.info.mean.assign(8, 0.f), m.info.std.assign(8, 1.f);
  m.nodes.push_back(op_node(core::OpKind::kMaxPool, {0}, {3, 1, 1}));
  m.nodes.push_back(op_node(core::OpKind::kGlobalAvgPool, {1}));
  m.info.num_classes = 8;
  const size_t image = size_t(8) * 256 * 256;
  const auto x = randn(5 * image, 29);
  rt::Engine e = rt::Engine::from_bytes(core::serialize_model(m), "chunks.dsm", rt::EngineOptions{"", 2});
  const auto all = e.run(x.data(), 5);
  ASSERT_EQ(all.size(), 40u);
  for (int b = 0; b < 5; ++b) {
    const auto one = e.run(x.data() + size_t(b) * image, 1);
    EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + b * 8)) << "image " << b;
  }
}

// A batch runs stage by stage, each stage in chunks of its own size (Engine::run): here 2 images
// at 128x128 (512 KB an image), 8 after the first pooling (a residual block: no cut inside it),
// the whole batch after the second. 37 images, so every stage ends on a partial chunk; each image's
// outputs must equal its run alone, bit for bit, on the default and the fastest kernel.
TEST(Engine, StagesOfDifferentChunksGiveEachImageItsOwnOutputs) {
  ModelDesc m;
  m.info.in_c = 8, m.info.in_h = 128, m.info.in_w = 128, m.info.num_classes = 8;
  m.info.mean.assign(8, 0.f), m.info.std.assign(8, 1.f);
  std::mt19937 rng(17);
  auto pool = [](uint32_t x) { return op_node(core::OpKind::kMaxPool, {x}, {3, 2, 1}); };
  m.nodes.push_back(codes_conv_node(0, 8, 8, 3, 1, 1, 1, 0.05f, rng));  // value 1: 8x128x128
  m.nodes.push_back(pool(1));                                           // 2: 8x64x64
  m.nodes.push_back(codes_conv_node(2, 8, 8, 3, 1, 1, 1, 0.05f, rng));  // 3
  NodeDesc res = codes_conv_node(3, 8, 8, 3, 1, 1, 1, 0.05f, rng);      // 4 = conv(3) + 2
  res.inputs.push_back(2);
  m.nodes.push_back(res);
  m.nodes.push_back(pool(4));  // 5: 8x32x32
  m.nodes.push_back(op_node(core::OpKind::kGlobalAvgPool, {5}));
  const auto bytes = core::serialize_model(m);
  const size_t image = size_t(8) * 128 * 128;
  const int batch = 37;
  const auto x = randn(size_t(batch) * image, 31);
  for (const char* kernel : {"", "fastest"}) {
    rt::Engine e = rt::Engine::from_bytes(bytes, "stages.dsm", rt::EngineOptions{kernel, 2});
    const auto all = e.run(x.data(), batch);
    ASSERT_EQ(all.size(), size_t(batch) * 8);
    for (int b = 0; b < batch; ++b) {
      const auto one = e.run(x.data() + size_t(b) * image, 1);
      EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + b * 8)) << e.kernel().name << ", image " << b;
    }
  }
}

// A batch of at least two images an engine thread (or a multiple of the threads) runs a thread per
// image, each layer on one thread (Engine::run): batches of 2, 4, 6 and 9 images on 2 and 3 threads
// (9 on 2: units of 3, 3 and 3, the last two on whichever thread is free), each image's outputs
// equal to its run alone on one thread, bit for bit.
TEST(Engine, ImagesInParallelGiveEachImageItsOwnOutputs) {
  ModelDesc m;
  m.info.in_c = 8, m.info.in_h = 40, m.info.in_w = 36, m.info.num_classes = 16;
  m.info.mean.assign(8, 0.f), m.info.std.assign(8, 1.f);
  std::mt19937 rng(41);
  m.nodes.push_back(codes_conv_node(0, 8, 16, 3, 1, 1, 1, 0.05f, rng));  // value 1: 16x40x36
  m.nodes.push_back(op_node(core::OpKind::kMaxPool, {1}, {3, 2, 1}));    // 2: 16x20x18
  NodeDesc res = codes_conv_node(2, 16, 16, 3, 1, 1, 1, 0.05f, rng);     // 3 = conv(2) + 2
  res.inputs.push_back(2);
  m.nodes.push_back(res);
  m.nodes.push_back(op_node(core::OpKind::kGlobalAvgPool, {3}));
  const auto bytes = core::serialize_model(m);
  const size_t image = size_t(8) * 40 * 36;
  const auto x = randn(9 * image, 43);
  for (const char* kernel : {"", "fastest"}) {
    rt::Engine alone = rt::Engine::from_bytes(bytes, "alone.dsm", rt::EngineOptions{kernel, 1});
    std::vector<std::vector<float>> want;
    for (int b = 0; b < 9; ++b) want.push_back(alone.run(x.data() + size_t(b) * image, 1));
    for (int threads : {2, 3}) {
      rt::Engine e = rt::Engine::from_bytes(bytes, "images.dsm", rt::EngineOptions{kernel, threads});
      for (int batch : {2, 4, 6, 9}) {
        const auto all = e.run(x.data(), batch);
        ASSERT_EQ(all.size(), size_t(batch) * 16);
        for (int b = 0; b < batch; ++b)
          EXPECT_TRUE(std::equal(want[b].begin(), want[b].end(), all.begin() + b * 16))
              << e.kernel().name << ", " << threads << " threads, batch " << batch << ", image " << b;
      }
    }
  }
}

// A batch whose Winograd V would pass the chunk size (64 channels at 48x48: 1.3 MB an image) runs
// image by image: the same outputs, bit for bit, as each image alone, the residual included.
TEST(Engine, WinogradBatchChunksEqualImageByImage) {
  ModelDesc m;
  m.info.in_c = 64, m.info.in_h = 48, m.info.in_w = 48, m.info.num_classes = 64 * 48 * 48;
  m.info.mean.assign(64, 0.f), m.info.std.assign(64, 1.f);
  std::mt19937 rng(9);
  for (uint32_t x : {0u, 1u}) {
    NodeDesc n = codes_conv_node(x, 64, 64, 3, 1, 1, 1, 0.02f, rng);
    if (x == 1) n.inputs.push_back(0);  // + the network's input
    m.nodes.push_back(n);
  }
  const auto bytes = core::serialize_model(m);
  const size_t image = size_t(64) * 48 * 48;
  const auto x = randn(3 * image, 23);
  int ran = 0;
  for (const auto& k : kernels::all_kernels()) {
    if (!k.winograd || !k.supported()) continue;
    ++ran;
    rt::Engine e = rt::Engine::from_bytes(bytes, "chunks.dsm", rt::EngineOptions{k.name, 2});
    const auto all = e.run(x.data(), 3);
    ASSERT_EQ(all.size(), 3 * image);
    for (int b = 0; b < 3; ++b) {
      const auto one = e.run(x.data() + size_t(b) * image, 1);
      EXPECT_TRUE(std::equal(one.begin(), one.end(), all.begin() + std::ptrdiff_t(size_t(b) * image))) << k.name << " image " << b;
    }
  }
  if (!ran) GTEST_SKIP() << "no Winograd kernel runs on this CPU";
}

// Convolutions on the wide form (K >= 64) that the stride-1 models above do not reach, against the
// portable exact kernel (im2col): stride 2 with padding (a one-phase padded copy), 1x1 stride 2
// and 3x3 stride 2 without padding (read in place, no copy), and 2 groups; a batch of 8, whose
// pixel tiles span images (the FP32 linear layer's too: one image a pixel, 7 a tile).
TEST(Engine, StridedAndUnpaddedConvolutionsMatchTheScalarKernel) {
  ModelDesc m;
  m.info.in_c = 16, m.info.in_h = 29, m.info.in_w = 28, m.info.num_classes = 10;
  m.info.mean.assign(16, 0.f), m.info.std.assign(16, 1.f);
  std::mt19937 rng(21);
  auto codes_conv = [&](uint32_t x, int cin, int cout, int k, int s, int pad, int groups) {
    return codes_conv_node(x, cin, cout, k, s, pad, groups, 0.05f, rng);
  };
  m.nodes.push_back(codes_conv(0, 16, 64, 3, 2, 1, 1));  // 15x14: rows of two 7-pixel tiles, stride 2
  m.nodes.push_back(codes_conv(1, 64, 24, 1, 2, 0, 1));  // 8x7, in place: a tile a row
  m.nodes.push_back(codes_conv(2, 24, 32, 3, 2, 0, 1));  // 3x3, in place
  m.nodes.push_back(codes_conv(3, 32, 48, 3, 1, 1, 2));  // 2 groups of 16 -> 24
  m.nodes.push_back(op_node(core::OpKind::kGlobalAvgPool, {4}));
  NodeDesc fc = conv_node(5, 48, 10, 1, 1, 0, 1, 1, false, randn(480, 4));
  fc.op = core::OpKind::kLinear, fc.params = {48, 10, 0};
  m.nodes.push_back(fc);
  const auto bytes = core::serialize_model(m);
  const auto x = randn(size_t(16 * 29 * 28 * 8), 17);
  const auto exact = rt::Engine::from_bytes(bytes, "strided.dsm", rt::EngineOptions{"f32_expadd_scalar", 1}).run(x.data(), 8);
  int wide = 0;
  for (const auto& k : kernels::all_kernels()) {
    if (k.weights != kernels::WeightSet::kDenseShift || !k.supported() || k.fp16_activations) continue;
    wide += k.wide_form;
    for (int threads : {1, 3}) {
      rt::Engine e = rt::Engine::from_bytes(bytes, "strided.dsm", rt::EngineOptions{k.name, threads});
      const auto y = e.run(x.data(), 8);
      ASSERT_EQ(y.size(), exact.size());
      for (size_t i = 0; i < y.size(); ++i)
        EXPECT_NEAR(y[i], exact[i], 1e-4f * (1.f + std::fabs(exact[i]))) << k.name << " " << threads << " threads, logit " << i;
      // Each image alone gives its logits in the batch: the FP32 linear layer runs on the float
      // kernel in every engine, the reference's too, so this is its check.
      for (int b = 0; b < 8; ++b) {
        const auto one = e.run(x.data() + size_t(b) * 16 * 29 * 28, 1);
        for (size_t i = 0; i < one.size(); ++i)
          EXPECT_NEAR(one[i], y[size_t(b) * 10 + i], 1e-5f * (1.f + std::fabs(one[i]))) << k.name << " image " << b;
      }
    }
  }
  RecordProperty("wide_form_kernels", wide);
}

// Max and average pooling alone against direct loops: odd and even sizes, the ResNet stem's 3/2
// pad 1 max pool (which has its own loop for the windows inside the image) among others.
TEST(Engine, PoolingMatchesDirectLoops) {
  struct P {
    bool max;
    int k, s, pad, h, w;
  };
  for (const P& c : {P{true, 3, 2, 1, 112, 112}, P{true, 3, 2, 1, 9, 8}, P{true, 3, 2, 1, 3, 3}, P{true, 3, 2, 0, 10, 11},
                     P{true, 2, 2, 0, 7, 9}, P{true, 3, 1, 1, 5, 6}, P{false, 3, 2, 1, 9, 8}, P{false, 2, 2, 0, 6, 7}}) {
    ModelDesc m;
    m.info.in_c = 3, m.info.in_h = uint32_t(c.h), m.info.in_w = uint32_t(c.w);
    m.info.mean.assign(3, 0.f), m.info.std.assign(3, 1.f);
    m.nodes.push_back(op_node(c.max ? core::OpKind::kMaxPool : core::OpKind::kAvgPool, {0}, {c.k, c.s, c.pad}));
    const int oh = (c.h + 2 * c.pad - c.k) / c.s + 1, ow = (c.w + 2 * c.pad - c.k) / c.s + 1;
    m.info.num_classes = uint32_t(3 * oh * ow);
    auto x = randn(size_t(2 * 3 * c.h * c.w), 13);  // batch of 2
    auto y = rt::Engine::from_bytes(core::serialize_model(m), "pool.dsm", rt::EngineOptions{"", 2}).run(x.data(), 2);
    ASSERT_EQ(y.size(), size_t(2 * 3 * oh * ow));
    for (int plane = 0; plane < 6; ++plane)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          float acc = c.max ? -INFINITY : 0.f;
          for (int i = 0; i < c.k; ++i)
            for (int j = 0; j < c.k; ++j) {
              const int yy = oy * c.s - c.pad + i, xx = ox * c.s - c.pad + j;
              if (yy < 0 || xx < 0 || yy >= c.h || xx >= c.w) continue;
              const float v = x[(size_t(plane) * c.h + yy) * c.w + xx];
              acc = c.max ? std::max(acc, v) : acc + v;
            }
          if (!c.max) acc /= float(c.k * c.k);
          EXPECT_NEAR(y[(size_t(plane) * oh + oy) * ow + ox], acc, 1e-5f)
              << (c.max ? "max" : "avg") << c.k << "/" << c.s << " pad " << c.pad << " " << c.h << "x" << c.w << " at " << oy << "," << ox;
        }
  }
}

TEST(Engine, ProbabilitiesAreTheSoftmaxOfTheLogits) {
  auto bytes = core::serialize_model(small_model());
  rt::Engine e = rt::Engine::from_bytes(bytes, "small.dsm");
  auto x = randn(4 * 11 * 9 * 2, 9);
  auto l = e.run(x.data(), 2), p = e.probabilities(x.data(), 2);
  for (int b = 0; b < 2; ++b) {
    double z = 0, sum = 0;
    for (int c = 0; c < 3; ++c) z += std::exp(double(l[size_t(b * 3 + c)]));
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(p[size_t(b * 3 + c)], std::exp(double(l[size_t(b * 3 + c)])) / z, 1e-6);
      sum += p[size_t(b * 3 + c)];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

// Each malformed graph: serialized with valid checksums, refused with this text in the message.
void expect_refused(ModelDesc m, const std::string& text) {
  auto bytes = core::serialize_model(m);
  try {
    rt::Engine::from_bytes(bytes, "bad.dsm");
    FAIL() << "accepted a model that should fail with: " << text;
  } catch (const core::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.dsm"), std::string::npos) << e.what();
  }
}

TEST(Engine, MalformedGraphsAreRefusedWithAReason) {
  {
    auto m = small_model();
    m.nodes[1].inputs = {3};
    expect_refused(m, "is not an earlier value");
  }
  {
    auto m = small_model();
    m.nodes[0].params[0] = 6;
    expect_refused(m, "input channels");
  }
  {
    auto m = small_model();
    m.nodes[0].params.pop_back();
    expect_refused(m, "parameters");
  }
  {
    auto m = small_model();
    m.nodes[3].rows = 4;
    expect_refused(m, "weights take");
  }
  {
    auto m = small_model();
    m.nodes[3].params[1] = 4;
    expect_refused(m, "weights are");
  }
  {
    auto m = small_model();
    m.info.num_classes = 5;
    expect_refused(m, "outputs for 5 classes");
  }
  {
    auto m = small_model();
    m.nodes[3].bits = 7;
    expect_refused(m, "7-bit");
  }
  {
    auto m = small_model();
    m.nodes[0].params[2] = m.nodes[0].params[3] = 40;  // kernel larger than the input
    m.nodes[0].rows = 6, m.nodes[0].cols = 2 * 40 * 40;
    m.nodes[0].own_w.assign(size_t(6) * 2 * 40 * 40 * 4, 0);
    m.nodes[0].row_bytes = m.nodes[0].cols * 4;
    expect_refused(m, "larger than the padded input");
  }
  {
    // A 1x1 conv to 60000 channels on a 1000x1000 input would need gigabytes.
    auto m = small_model();
    m.info.in_h = m.info.in_w = 1000;
    m.nodes[0] = conv_node(0, 4, 60000, 1, 1, 0, 1, 1, true, std::vector<float>(size_t(60000) * 4, 0.f));
    expect_refused(m, "1 GiB");
  }
  {
    auto m = small_model();
    m.nodes[2].op = core::OpKind::kAdd;  // add with one input
    expect_refused(m, "inputs");
  }
}

// small_model with its linear layer's codes re-read as shift-with-zero codes, or re-packed as b-bit codes.
ModelDesc small_model_zero() {
  ModelDesc m = small_model();
  m.nodes[3].wkind = core::WeightKind::kShiftWithZero;
  return m;
}
ModelDesc small_model_bits(uint32_t bits) {
  ModelDesc m = small_model();
  NodeDesc& fc = m.nodes[3];
  std::vector<uint8_t> codes(18);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t((i * 7) % (1u << bits));
  fc.bits = bits, fc.row_bytes = uint32_t(core::packed_bytes(6, int(bits)));
  fc.own_w.assign(3 * fc.row_bytes, 0);
  for (size_t r = 0; r < 3; ++r) core::pack_codes(codes.data() + r * 6, 6, int(bits), fc.own_w.data() + r * fc.row_bytes);
  return m;
}

// The invalid_argument message of loading `m` on `kernel` ("" when it loads).
std::string kernel_refusal(const ModelDesc& m, const std::string& kernel) {
  try {
    rt::Engine::from_bytes(core::serialize_model(m), "small.dsm", rt::EngineOptions{kernel, 1});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// `eval --kernel f32_shiftzero_avx2` ran a DenseShift model on a zero-weight kernel, which reads
// codes as other weights (smallcnn: 39% top-1 -> 16.55%); and a zero-weight model named with its
// zero-weight kernel ran on f32_shiftzero_scalar instead. Now the kernel must run the weights.
TEST(Engine, KernelMustRunTheModelsWeights) {
  const std::string msg = kernel_refusal(small_model(), "f32_shiftzero_scalar");
  EXPECT_EQ(msg.rfind("small.dsm: kernel 'f32_shiftzero_scalar' runs shift-with-zero weights", 0), 0u) << msg;
  EXPECT_NE(msg.find("the model has DenseShift weights; kernels that can run this model here: f32_expadd_scalar"),
            std::string::npos) << msg;
  EXPECT_NE(kernel_refusal(small_model_zero(), "f32_expadd_scalar").find("the model has shift-with-zero weights"),
            std::string::npos);

  // A zero-weight model runs on the kernel named, on the default's zero-weight sibling, and gives the
  // same logits on every kernel that can run it.
  const auto bytes = core::serialize_model(small_model_zero());
  const auto x = randn(4 * 11 * 9, 3);
  rt::Engine ref = rt::Engine::from_bytes(bytes, "z.dsm", rt::EngineOptions{"f32_shiftzero_scalar", 1});
  const auto want = ref.run(x.data(), 1);
  EXPECT_EQ(rt::Engine::from_bytes(bytes, "z.dsm").kernel().weights, kernels::WeightSet::kShiftWithZero);
  for (const kernels::KernelInfo* k : kernels::kernels_for(ref.quantized_weights())) {
    rt::Engine e = rt::Engine::from_bytes(bytes, "z.dsm", rt::EngineOptions{k->name, 1});
    EXPECT_EQ(std::string(e.kernel().name), k->name);
    const auto y = e.run(x.data(), 1);
    for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(y[c], want[c], 1e-4f) << k->name;
  }
}

// FP16 kernels form x * 2^P in FP16: a 5-bit model's 2^15 overflows it for |x| >= 2.
TEST(Engine, Fp16KernelsRefuseFiveBitModelsAtLoad) {
  bool any = false;
  for (const auto& k : kernels::all_kernels()) {
    if (!k.supported() || !k.fp16_activations) continue;
    any = true;
    const std::string msg = kernel_refusal(small_model_bits(5), k.name);
    EXPECT_NE(msg.find("small.dsm: kernel '" + std::string(k.name) + "' rounds activations to FP16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("5-bit DenseShift weights"), std::string::npos) << msg;
    EXPECT_EQ(kernel_refusal(small_model_bits(4), k.name), "");
  }
  if (!any) GTEST_SKIP() << "no FP16 kernel runs on this CPU";
}

// A batch whose activations exceed the run limit is refused before anything is allocated.
TEST(Engine, BatchAboveTheMemoryLimitIsRefused) {
  ModelDesc m = small_model();
  m.info.in_h = m.info.in_w = 1024;  // about 24 MiB of values per image
  rt::Engine e = rt::Engine::from_bytes(core::serialize_model(m), "big.dsm", rt::EngineOptions{"", 1});
  EXPECT_GT(e.max_batch(), 10);
  EXPECT_LT(e.max_batch(), 200);
  try {
    const float dummy = 0;  // never read: the batch is refused first
    e.run(&dummy, e.max_batch() + 1);
    FAIL() << "accepted";
  } catch (const std::invalid_argument& err) {
    EXPECT_NE(std::string(err.what()).find("big.dsm: a batch of " + std::to_string(e.max_batch() + 1) +
                                           " needs more than the 4 GiB of activations a run may take"),
              std::string::npos) << err.what();
  }
}

TEST(Engine, NonFiniteRowsAreCounted) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> l = {1, 2, 3, inf, 0, 0, 0, 0, 0, 0, nan, -inf};
  EXPECT_EQ(rt::count_non_finite_rows(l.data(), 4, 3), 2u);
  EXPECT_EQ(rt::count_non_finite_rows(l.data(), 1, 3), 0u);
}

TEST(Engine, TruncatedAndCorruptFilesAreRefused) {
  auto bytes = core::serialize_model(small_model());
  for (size_t cut : {size_t(0), size_t(10), bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> b(bytes.begin(), bytes.begin() + long(cut));
    EXPECT_THROW(rt::Engine::from_bytes(b, "cut.dsm"), core::FormatError) << cut;
  }
  for (size_t pos = 0; pos < bytes.size(); pos += 7) {
    auto b = bytes;
    b[pos] ^= 0x5a;
    EXPECT_THROW(rt::Engine::from_bytes(b, "flip.dsm"), core::FormatError) << pos;
  }
  EXPECT_THROW(rt::Engine::load("/nonexistent/model.dsm"), core::FormatError);
}

}  // namespace
}  // namespace ds
