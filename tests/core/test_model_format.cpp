// The model sections (META, GRPH, WGTS) on values a valid container can carry but a model cannot
// mean: each is a FormatError naming the file and the problem. Also the version-1 META (no
// dataset) that older files such as tests/runtime/data/smallcnn_fmnist_ds3.dsm hold.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>

#include "core/codes.h"
#include "core/model_format.h"
#include "core_test_util.h"

using namespace ds::core;
using namespace ds::core::testing;

namespace {

using Bytes = std::vector<uint8_t>;
using Sections = std::map<std::string, Bytes>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// conv (FP32 weights, 1 -> 2 channels, 3x3) -> global pool -> linear (3-bit DenseShift, 2 -> 3).
// read_model does not check shapes, so this is all the graph needs.
ModelDesc tiny_model() {
  ModelDesc m;
  m.info.in_c = 1, m.info.in_h = 4, m.info.in_w = 4, m.info.num_classes = 3;
  m.info.mean = {0.5f}, m.info.std = {0.25f};
  m.info.arch = "tiny", m.info.method = "denseshift:3", m.info.dataset = "/data/fmnist";
  NodeDesc conv;
  conv.op = OpKind::kConv2d, conv.inputs = {0}, conv.params = {1, 2, 3, 3, 1, 1, 1, 1, 1};
  conv.wkind = WeightKind::kFloat32, conv.rows = 2, conv.cols = 9, conv.row_bytes = 36;
  conv.own_w.assign(2 * 9 * 4, 0);
  conv.own_scale = {1.f, 1.f}, conv.own_bias = {0.f, 0.f};
  m.nodes.push_back(conv);
  NodeDesc gap;
  gap.op = OpKind::kGlobalAvgPool, gap.inputs = {1};
  m.nodes.push_back(gap);
  NodeDesc fc;
  fc.op = OpKind::kLinear, fc.inputs = {2}, fc.params = {2, 3, 0};
  fc.wkind = WeightKind::kDenseShift, fc.bits = 3, fc.rows = 3, fc.cols = 2;
  fc.row_bytes = uint32_t(packed_bytes(2, 3));
  fc.own_w.assign(3 * fc.row_bytes, 0x3f);
  fc.own_scale = {1.f, 2.f, 3.f}, fc.own_bias = {0.f, 0.f, 0.f};
  m.nodes.push_back(fc);
  return m;
}

// A model read from bytes, with the container its weight arrays point into (they are views).
struct ReadModel {
  Container file;
  ModelDesc m;
};
ReadModel read_bytes(const Bytes& b) {
  ReadModel r{Container::from_bytes(b, "m.dsm"), {}};
  r.m = read_model(r.file);
  return r;
}

// The FormatError message read_model gives for these bytes ("" when accepted).
std::string refusal(const Bytes& b) {
  try {
    read_bytes(b);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

void expect_refused(const Bytes& b, const std::string& text) {
  const std::string msg = refusal(b);
  EXPECT_NE(msg.find(text), std::string::npos) << "message: " << msg;
  EXPECT_EQ(msg.rfind("m.dsm", 0), 0u) << "message starts with the file name: " << msg;
}

// The file's sections after `edit`, in a new container with fresh checksums (and so the current
// version), so the damage reaches read_model rather than the container's checks.
Bytes with_sections(const Bytes& file, const std::function<void(Sections&)>& edit, uint32_t version = kFormatVersion) {
  const Container c = Container::from_bytes(file, "m.dsm");
  Sections s;
  for (const auto& tag : c.tags()) s[tag] = Bytes(c.section(tag).data, c.section(tag).data + c.section(tag).size);
  edit(s);
  ContainerWriter w;
  for (const auto& tag : c.tags()) w.add(tag, s[tag]);
  Bytes out = w.serialize();
  put32(out, kVersionAt, version);
  reseal(out);
  return out;
}

// Where node `node`'s w_offset field starts in a GRPH payload (layout from docs/format.md,
// written out here independently of model_format.cpp); w_size, scale_offset and bias_offset
// follow it at +8, +16, +24.
size_t offsets_at(const Bytes& g, uint32_t node) {
  size_t p = 4;
  for (uint32_t i = 0;; ++i) {
    p += 4;                          // op
    p += 4 + 4 * size_t(get32(g, p));  // inputs
    p += 4 + 4 * size_t(get32(g, p));  // params
    const uint32_t wk = get32(g, p);
    p += 4;
    if (wk == 0) continue;
    p += 16;  // bits, rows, cols, row_bytes
    if (i == node) return p;
    p += 32;
  }
}

// The version-1 META: the version-2 one without its last field (the dataset string).
Bytes version1_file(const ModelDesc& m) {
  return with_sections(
      serialize_model(m), [&](Sections& s) { s["META"].resize(s["META"].size() - 4 - m.info.dataset.size()); }, 1);
}

}  // namespace

TEST(ModelFormat, RoundTripKeepsTheDataset) {
  const ReadModel r = read_bytes(serialize_model(tiny_model()));
  const ModelDesc& m = r.m;
  EXPECT_EQ(m.info.dataset, "/data/fmnist");
  EXPECT_EQ(m.info.arch, "tiny");
  ASSERT_EQ(m.nodes.size(), 3u);
  EXPECT_EQ(m.nodes[2].scale[2], 3.f);
}

TEST(ModelFormat, Version1FilesAreReadWithoutADataset) {
  const Bytes v1 = version1_file(tiny_model());
  ASSERT_EQ(get32(v1, kVersionAt), 1u);
  const ReadModel r = read_bytes(v1);
  const ModelDesc& m = r.m;
  EXPECT_EQ(m.info.dataset, "");
  EXPECT_EQ(m.info.method, "denseshift:3");
}

TEST(ModelFormat, MetaWithMeaninglessValuesIsRefused) {
  auto refused_with = [](const std::function<void(ModelInfo&)>& edit, const std::string& text) {
    ModelDesc m = tiny_model();
    edit(m.info);
    SCOPED_TRACE(text);
    expect_refused(serialize_model(m), text);
  };
  refused_with([](ModelInfo& i) { i.mean = {kNaN}; }, "channel 0 has mean nan");
  refused_with([](ModelInfo& i) { i.mean = {-kInf}; }, "channel 0 has mean -inf");
  refused_with([](ModelInfo& i) { i.std = {kNaN}; }, "channel 0 has standard deviation nan");
  refused_with([](ModelInfo& i) { i.std = {kInf}; }, "has standard deviation inf");
  refused_with([](ModelInfo& i) { i.std = {0.f}; }, "must be finite and positive");
  refused_with([](ModelInfo& i) { i.std = {-0.25f}; }, "has standard deviation -0.25");
  // An input side above the cap (a width of 32,796 made bench run for minutes) and an input of
  // more values than the cap within the side limit.
  refused_with([](ModelInfo& i) { i.in_w = 32796; }, "input shape 1x4x32796 is out of range (channels 1..64, sides 1..4096)");
  refused_with([](ModelInfo& i) { i.in_h = 4097; }, "sides 1..4096");
  refused_with([](ModelInfo& i) { i.in_h = i.in_w = 4096; }, "is more than 4194304 values per image");
  refused_with(
      [](ModelInfo& i) {
        i.in_c = 3, i.in_h = i.in_w = 1183, i.mean.assign(3, 0.f), i.std.assign(3, 1.f);
      },
      "input shape 3x1183x1183 is more than 4194304 values per image");
  ModelDesc ok = tiny_model();
  ok.info.in_h = ok.info.in_w = 2048;  // exactly the cap
  EXPECT_EQ(refusal(serialize_model(ok)), "");
}

TEST(ModelFormat, TrailingBytesInMetaAreRefused) {
  const Bytes b = with_sections(serialize_model(tiny_model()), [](Sections& s) { s["META"].push_back(0); });
  expect_refused(b, "section META: 1 unexpected bytes after the last field");
  // A version-1 file whose META still holds a version-2 dataset string: bytes it cannot explain.
  const Bytes v1 = with_sections(serialize_model(tiny_model()), [](Sections&) {}, 1);
  expect_refused(v1, "section META: 16 unexpected bytes after the last field");
}

TEST(ModelFormat, NonFiniteScaleBiasOrWeightsAreRefused) {
  auto refused_with = [](const std::function<void(ModelDesc&)>& edit, const std::string& text) {
    ModelDesc m = tiny_model();
    edit(m);
    SCOPED_TRACE(text);
    expect_refused(serialize_model(m), text);
  };
  refused_with([](ModelDesc& m) { m.nodes[2].own_scale[1] = kInf; }, "node 2: scale[1] is inf");
  refused_with([](ModelDesc& m) { m.nodes[2].own_scale[0] = kNaN; }, "node 2: scale[0] is nan");
  refused_with([](ModelDesc& m) { m.nodes[0].own_bias[1] = -kInf; }, "node 0: bias[1] is -inf");
  refused_with([](ModelDesc& m) { m.nodes[2].own_bias[2] = kNaN; }, "node 2: bias[2] is nan");
  refused_with(
      [](ModelDesc& m) {
        const float nan = kNaN;
        std::memcpy(m.nodes[0].own_w.data() + 4 * 5, &nan, 4);
      },
      "node 0: weight[5] is nan");
}

TEST(ModelFormat, WeightArraysMustBeWhereTheWriterPutsThem) {
  const Bytes good = serialize_model(tiny_model());
  // The layout: node 0's weights (72 bytes) at 0, scale at 128, bias at 192; node 2's codes at 256,
  // scale at 320, bias at 384; WGTS ends at 396.
  {
    const ReadModel r = read_bytes(good);
    EXPECT_EQ(r.file.section("WGTS").size, 396u);
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(r.m.nodes[2].scale) - r.file.section("WGTS").data, 320);
  }
  auto edit_offset = [&](uint32_t node, size_t field, uint64_t value) {
    return with_sections(good, [&](Sections& s) { put64(s["GRPH"], offsets_at(s["GRPH"], node) + field, value); });
  };
  // Node 2's scale pointing at node 0's: inside the section, aligned, and once accepted.
  expect_refused(edit_offset(2, 16, 128), "node 2: scale at offset 128 of section WGTS, where the writer puts them at 320");
  // Node 2's codes overlapping its own scale.
  expect_refused(edit_offset(2, 0, 320), "node 2: weights at offset 320 of section WGTS, where the writer puts them at 256");
  // Bias moved one 64-byte block on: the skipped block is unexplained.
  expect_refused(edit_offset(0, 24, 256), "node 0: bias at offset 256 of section WGTS, where the writer puts them at 192");
  // Data after the last array.
  expect_refused(with_sections(good, [](Sections& s) { s["WGTS"].resize(s["WGTS"].size() + 64, 0); }),
                 "section WGTS: 64 bytes after the last node's data, which no node uses");
  // Non-zero padding between two arrays (node 0's weights end at 72, its scale starts at 128).
  expect_refused(with_sections(good, [](Sections& s) { s["WGTS"][100] = 1; }), "section WGTS: padding byte 100 is not zero");
}

namespace {

// tiny_model() as a speech model: input 1 x 40 x 149, the default front end.
ModelDesc tiny_speech_model() {
  ModelDesc m = tiny_model();
  m.info.audio = AudioFrontEnd{};
  m.info.in_h = m.info.audio->n_mels, m.info.in_w = m.info.audio->frames();
  m.info.mean = {0.f}, m.info.std = {1.f};
  return m;
}

}  // namespace

TEST(ModelFormat, AudioFrontEndRoundTrips) {
  ModelDesc m = tiny_speech_model();
  m.info.audio->n_mels = 32, m.info.audio->hop_length = 160, m.info.audio->f_max = 7600.f;
  m.info.in_h = 32, m.info.in_w = m.info.audio->frames();
  const ReadModel r = read_bytes(serialize_model(m));
  ASSERT_TRUE(r.m.info.audio.has_value());
  EXPECT_EQ(*r.m.info.audio, *m.info.audio);
  EXPECT_EQ(r.file.version(), 3u);
  EXPECT_FALSE(read_bytes(serialize_model(tiny_model())).m.info.audio.has_value());
  EXPECT_FALSE(read_bytes(version1_file(tiny_model())).m.info.audio.has_value());
}

TEST(ModelFormat, MeaninglessAudioFrontEndsAreRefused) {
  const auto refused = [](const std::function<void(ModelDesc&)>& edit, const std::string& text) {
    ModelDesc m = tiny_speech_model();
    edit(m);
    expect_refused(serialize_model(m), text);
  };
  refused([](ModelDesc& m) { m.info.audio->hop_length = 0; }, "hop length 0");
  refused([](ModelDesc& m) { m.info.audio->win_length = 1024; }, "window length 1024");
  refused([](ModelDesc& m) { m.info.audio->sample_rate = 0; }, "sample rate 0");
  refused([](ModelDesc& m) { m.info.audio->f_max = 9000.f; }, "Nyquist");
  refused([](ModelDesc& m) { m.info.audio->f_min = kNaN; }, "mel range");
  refused([](ModelDesc& m) { m.info.audio->log_floor = 0.f; }, "log floor");
  refused([](ModelDesc& m) { m.info.audio->n_mels = 600; }, "mel bands");
  refused([](ModelDesc& m) { m.info.audio->clip_samples = 100; }, "clip of 100 samples");
  refused([](ModelDesc& m) { m.info.in_w = 150; }, "the front end makes 1x40x149 inputs, META says the model takes 1x40x150");
  refused([](ModelDesc& m) { m.info.mean = {0.5f}; }, "normalized by its front end alone");
  // A window, mel scale or normalization this build does not implement (bytes 36..47 of AUDF).
  for (size_t at : {36, 40, 44}) {
    const Bytes b = with_sections(serialize_model(tiny_speech_model()), [&](Sections& s) { put32(s["AUDF"], at, 2); });
    expect_refused(b, "unknown");
  }
  const Bytes longer = with_sections(serialize_model(tiny_speech_model()), [](Sections& s) { s["AUDF"].push_back(0); });
  expect_refused(longer, "unexpected bytes after the last field");
}
