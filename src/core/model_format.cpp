#include "core/model_format.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/codes.h"

namespace ds::core {
namespace {

constexpr uint32_t kMaxDim = 1u << 20;       // any channel count, side or feature size
constexpr uint32_t kMaxNodes = 1u << 16;
constexpr uint32_t kNoWeights = 0;

int expected_params(OpKind op) {
  switch (op) {
    case OpKind::kConv2d: return kConvParamCount;
    case OpKind::kLinear: return 3;
    case OpKind::kMaxPool:
    case OpKind::kAvgPool: return 3;
    case OpKind::kGlobalAvgPool: return 0;
    case OpKind::kAdd: return 1;
    case OpKind::kRelu: return 0;
    case OpKind::kShortcutA: return 3;
  }
  return -1;
}

size_t expected_inputs_max(OpKind op) { return op == OpKind::kAdd || op == OpKind::kConv2d ? 2 : 1; }
size_t expected_inputs_min(OpKind op) { return op == OpKind::kAdd ? 2 : 1; }
bool has_weights(OpKind op) { return op == OpKind::kConv2d || op == OpKind::kLinear; }

// Weight blobs go into WGTS in node order (weights, scale, bias), each at the next 64-byte
// boundary, so a reader can use them in place. read_model requires exactly this layout.
constexpr uint64_t kBlobAlign = 64;
uint64_t put_blob(ByteWriter& w, const void* p, size_t n) {
  w.align(kBlobAlign);
  uint64_t off = w.size();
  w.bytes(p, n);
  return off;
}

float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// Index of the first non-finite float of n at p, or n.
size_t first_non_finite(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(load_f32(p + 4 * i))) return i;
  return n;
}

void read_meta(const Container& c, ModelInfo& in) {
  ByteReader r = c.reader("META");
  in.in_c = r.u32(), in.in_h = r.u32(), in.in_w = r.u32(), in.num_classes = r.u32();
  const std::string shape = std::to_string(in.in_c) + "x" + std::to_string(in.in_h) + "x" + std::to_string(in.in_w);
  if (in.in_c == 0 || in.in_c > kMaxInputChannels || in.in_h == 0 || in.in_h > kMaxInputSide || in.in_w == 0 ||
      in.in_w > kMaxInputSide)
    r.fail("input shape " + shape + " is out of range (channels 1.." + std::to_string(kMaxInputChannels) + ", sides 1.." +
           std::to_string(kMaxInputSide) + ")");
  if (size_t(in.in_c) * in.in_h * in.in_w > kMaxInputFloats)
    r.fail("input shape " + shape + " is more than " + std::to_string(kMaxInputFloats) + " values per image");
  if (in.num_classes == 0 || in.num_classes > kMaxDim) r.fail("class count " + std::to_string(in.num_classes) + " is out of range");
  for (uint32_t i = 0; i < in.in_c; ++i) in.mean.push_back(r.f32());
  for (uint32_t i = 0; i < in.in_c; ++i) in.std.push_back(r.f32());
  for (uint32_t i = 0; i < in.in_c; ++i) {
    // A NaN or infinite mean, or a std that is not a finite positive number, turns every input
    // into NaN, inf or garbage: refuse it here rather than report an accuracy of noise.
    if (!std::isfinite(in.mean[i])) r.fail("channel " + std::to_string(i) + " has mean " + std::to_string(in.mean[i]));
    if (!std::isfinite(in.std[i]) || !(in.std[i] > 0))
      r.fail("channel " + std::to_string(i) + " has standard deviation " + std::to_string(in.std[i]) +
             " (must be finite and positive)");
  }
  uint32_t names = r.u32();
  if (names != 0 && names != in.num_classes)
    r.fail(std::to_string(names) + " class names for " + std::to_string(in.num_classes) + " classes");
  for (uint32_t i = 0; i < names; ++i) in.class_names.push_back(r.str());
  in.arch = r.str(), in.method = r.str();
  if (c.version() >= 2) in.dataset = r.str();
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last field");
}

// AUDF: the speech front end (docs/format.md section 10). Its values are checked, and the input
// shape in META must be the one the front end produces, normalized by it alone.
void read_audio(const Container& c, ModelInfo& in) {
  ByteReader r = c.reader("AUDF");
  AudioFrontEnd fe;
  fe.sample_rate = r.u32(), fe.clip_samples = r.u32(), fe.n_fft = r.u32(), fe.win_length = r.u32();
  fe.hop_length = r.u32(), fe.n_mels = r.u32();
  fe.f_min = r.f32(), fe.f_max = r.f32(), fe.log_floor = r.f32();
  const uint32_t window = r.u32(), scale = r.u32(), norm = r.u32();
  if (window != kWindowHannPeriodic) r.fail("unknown window kind " + std::to_string(window) + " (1: periodic Hann)");
  if (scale != kMelScaleHtk) r.fail("unknown mel scale " + std::to_string(scale) + " (1: HTK)");
  if (norm != kNormPerUtterance) r.fail("unknown normalization " + std::to_string(norm) + " (1: per utterance)");
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last field");
  const std::string bad = check_front_end(fe);
  if (!bad.empty()) r.fail(bad);
  if (in.in_c != 1 || in.in_h != fe.n_mels || in.in_w != fe.frames())
    r.fail("the front end makes 1x" + std::to_string(fe.n_mels) + "x" + std::to_string(fe.frames()) +
           " inputs, META says the model takes " + std::to_string(in.in_c) + "x" + std::to_string(in.in_h) + "x" +
           std::to_string(in.in_w));
  if (in.mean[0] != 0.f || in.std[0] != 1.f)
    r.fail("a speech model's input is normalized by its front end alone; META has mean " + std::to_string(in.mean[0]) +
           " and std " + std::to_string(in.std[0]) + " instead of 0 and 1");
  in.audio = fe;
}

}  // namespace

const char* op_name(OpKind k) {
  switch (k) {
    case OpKind::kConv2d: return "conv2d";
    case OpKind::kLinear: return "linear";
    case OpKind::kMaxPool: return "maxpool";
    case OpKind::kAvgPool: return "avgpool";
    case OpKind::kGlobalAvgPool: return "global_avgpool";
    case OpKind::kAdd: return "add";
    case OpKind::kRelu: return "relu";
    case OpKind::kShortcutA: return "shortcut_a";
  }
  return "unknown";
}

namespace {

ContainerWriter build_container(const ModelDesc& m) {
  ByteWriter meta;
  const ModelInfo& in = m.info;
  meta.u32(in.in_c), meta.u32(in.in_h), meta.u32(in.in_w), meta.u32(in.num_classes);
  for (uint32_t c = 0; c < in.in_c; ++c) meta.f32(c < in.mean.size() ? in.mean[c] : 0.f);
  for (uint32_t c = 0; c < in.in_c; ++c) meta.f32(c < in.std.size() ? in.std[c] : 1.f);
  meta.u32(uint32_t(in.class_names.size()));
  for (const auto& s : in.class_names) meta.str(s);
  meta.str(in.arch), meta.str(in.method);
  meta.str(in.dataset);

  ByteWriter graph, weights;
  graph.u32(uint32_t(m.nodes.size()));
  for (const NodeDesc& n : m.nodes) {
    graph.u32(uint32_t(n.op));
    graph.u32(uint32_t(n.inputs.size()));
    for (uint32_t v : n.inputs) graph.u32(v);
    graph.u32(uint32_t(n.params.size()));
    for (int32_t p : n.params) graph.i32(p);
    graph.u32(uint32_t(n.wkind));
    if (n.wkind == WeightKind::kNone) continue;
    graph.u32(n.bits), graph.u32(n.rows), graph.u32(n.cols), graph.u32(n.row_bytes);
    uint64_t w_off = put_blob(weights, n.own_w.data(), n.own_w.size());
    uint64_t s_off = put_blob(weights, n.own_scale.data(), n.own_scale.size() * 4);
    uint64_t b_off = put_blob(weights, n.own_bias.data(), n.own_bias.size() * 4);
    graph.u64(w_off), graph.u64(n.own_w.size()), graph.u64(s_off), graph.u64(b_off);
  }
  ContainerWriter cw;
  cw.add("META", meta.take());
  cw.add("GRPH", graph.take());
  cw.add("WGTS", weights.take());
  if (in.audio) {
    const AudioFrontEnd& fe = *in.audio;
    ByteWriter a;
    a.u32(fe.sample_rate), a.u32(fe.clip_samples), a.u32(fe.n_fft), a.u32(fe.win_length), a.u32(fe.hop_length);
    a.u32(fe.n_mels), a.f32(fe.f_min), a.f32(fe.f_max), a.f32(fe.log_floor);
    a.u32(kWindowHannPeriodic), a.u32(kMelScaleHtk), a.u32(kNormPerUtterance);
    cw.add("AUDF", a.take());
  }
  return cw;
}

}  // namespace

std::vector<uint8_t> serialize_model(const ModelDesc& m) { return build_container(m).serialize(); }
void write_model(const ModelDesc& m, const std::string& path) { build_container(m).write(path); }

ModelDesc read_model(const Container& c) {
  ModelDesc m;
  read_meta(c, m.info);
  if (c.has("AUDF")) read_audio(c, m.info);
  const SectionView wsec = c.section("WGTS");
  ByteReader r = c.reader("GRPH");
  uint32_t count = r.u32();
  // Each node takes at least 16 bytes: bound the count by the section before reserving.
  if (count == 0 || count > kMaxNodes || count > r.remaining() / 16)
    r.fail("node count " + std::to_string(count) + " does not fit the section");
  m.nodes.resize(count);
  uint64_t wgts_used = 0;  // end of the last array read from WGTS
  for (uint32_t i = 0; i < count; ++i) {
    NodeDesc& n = m.nodes[i];
    const std::string at = "node " + std::to_string(i);
    uint32_t op = r.u32();
    n.op = OpKind(op);
    if (op < 1 || op > 8) r.fail(at + ": unknown op " + std::to_string(op));
    uint32_t nin = r.u32();
    if (nin < expected_inputs_min(n.op) || nin > expected_inputs_max(n.op))
      r.fail(at + " (" + op_name(n.op) + "): " + std::to_string(nin) + " inputs");
    for (uint32_t k = 0; k < nin; ++k) {
      uint32_t v = r.u32();
      if (v > i) r.fail(at + ": input " + std::to_string(v) + " is not an earlier value");
      n.inputs.push_back(v);
    }
    uint32_t np = r.u32();
    if (int(np) != expected_params(n.op))
      r.fail(at + " (" + op_name(n.op) + "): " + std::to_string(np) + " parameters, expected " +
             std::to_string(expected_params(n.op)));
    for (uint32_t k = 0; k < np; ++k) n.params.push_back(r.i32());
    uint32_t wk = r.u32();
    if (wk > 3) r.fail(at + ": unknown weight kind " + std::to_string(wk));
    n.wkind = WeightKind(wk);
    if ((wk != kNoWeights) != has_weights(n.op))
      r.fail(at + " (" + op_name(n.op) + "): " + (wk ? "has weights it cannot use" : "has no weights"));
    if (wk == kNoWeights) continue;
    n.bits = r.u32(), n.rows = r.u32(), n.cols = r.u32(), n.row_bytes = r.u32();
    uint64_t w_off = r.u64(), w_size = r.u64(), s_off = r.u64(), b_off = r.u64();
    if (n.rows == 0 || n.rows > kMaxDim || n.cols == 0 || n.cols > (1u << 24))
      r.fail(at + ": weight shape " + std::to_string(n.rows) + "x" + std::to_string(n.cols) + " is out of range");
    uint64_t expect;
    if (n.wkind == WeightKind::kFloat32) {
      expect = uint64_t(n.rows) * n.cols * 4;
    } else {
      if (n.bits < uint32_t(kMinBits) || n.bits > uint32_t(kMaxBits)) r.fail(at + ": " + std::to_string(n.bits) + "-bit codes");
      if (n.row_bytes < packed_bytes(n.cols, int(n.bits)) || n.row_bytes > 4 * n.cols)
        r.fail(at + ": row of " + std::to_string(n.row_bytes) + " bytes cannot hold " + std::to_string(n.cols) + " codes");
      expect = uint64_t(n.rows) * n.row_bytes;
    }
    if (w_size != expect) r.fail(at + ": weights take " + std::to_string(w_size) + " bytes, shape needs " + std::to_string(expect));
    // Each array must start exactly where the writer puts it: the next 64-byte boundary after the
    // previous one, with zero bytes in between. So arrays never overlap and WGTS holds nothing
    // that no node explains.
    auto expect_at = [&](uint64_t off, uint64_t size, const char* what) {
      const uint64_t want = (wgts_used + kBlobAlign - 1) / kBlobAlign * kBlobAlign;
      if (off != want)
        r.fail(at + ": " + what + " at offset " + std::to_string(off) + " of section WGTS, where the writer puts them at " +
               std::to_string(want));
      if (off > wsec.size || size > wsec.size - off)
        r.fail(at + ": " + what + " reach past the end of section WGTS (" + std::to_string(wsec.size) + " bytes)");
      for (uint64_t p = wgts_used; p < off; ++p)
        if (wsec.data[p] != 0)
          throw FormatError(c.name() + ": section WGTS: padding byte " + std::to_string(p) + " is not zero");
      wgts_used = off + size;
    };
    const uint64_t vec = uint64_t(n.rows) * 4;
    expect_at(w_off, w_size, "weights");
    expect_at(s_off, vec, "scale");
    expect_at(b_off, vec, "bias");
    auto check_finite = [&](uint64_t off, size_t count, const char* what) {
      const size_t bad = first_non_finite(wsec.data + off, count);
      if (bad < count)
        r.fail(at + ": " + what + "[" + std::to_string(bad) + "] is " + std::to_string(load_f32(wsec.data + off + 4 * bad)));
    };
    check_finite(s_off, n.rows, "scale");
    check_finite(b_off, n.rows, "bias");
    if (n.wkind == WeightKind::kFloat32) check_finite(w_off, size_t(n.rows) * n.cols, "weight");
    n.wdata = wsec.data + w_off;
    n.wsize = size_t(w_size);
    n.scale = reinterpret_cast<const float*>(wsec.data + s_off);
    n.bias = reinterpret_cast<const float*>(wsec.data + b_off);
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last node");
  if (wgts_used != wsec.size)
    throw FormatError(c.name() + ": section WGTS: " + std::to_string(wsec.size - wgts_used) +
                      " bytes after the last node's data, which no node uses");
  return m;
}

}  // namespace ds::core
