#include "core/model_format.h"

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

// Weight blobs go into WGTS at 64-byte boundaries so a reader can use them in place.
uint64_t put_blob(ByteWriter& w, const void* p, size_t n) {
  w.align(64);
  uint64_t off = w.size();
  w.bytes(p, n);
  return off;
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
  return cw;
}

}  // namespace

std::vector<uint8_t> serialize_model(const ModelDesc& m) { return build_container(m).serialize(); }
void write_model(const ModelDesc& m, const std::string& path) { build_container(m).write(path); }

ModelDesc read_model(const Container& c) {
  ModelDesc m;
  {
    ByteReader r = c.reader("META");
    ModelInfo& in = m.info;
    in.in_c = r.u32(), in.in_h = r.u32(), in.in_w = r.u32(), in.num_classes = r.u32();
    if (in.in_c == 0 || in.in_c > 64 || in.in_h == 0 || in.in_h > kMaxDim || in.in_w == 0 || in.in_w > kMaxDim)
      r.fail("input shape " + std::to_string(in.in_c) + "x" + std::to_string(in.in_h) + "x" + std::to_string(in.in_w) +
             " is out of range");
    if (in.num_classes == 0 || in.num_classes > kMaxDim) r.fail("class count " + std::to_string(in.num_classes) + " is out of range");
    for (uint32_t i = 0; i < in.in_c; ++i) in.mean.push_back(r.f32());
    for (uint32_t i = 0; i < in.in_c; ++i) in.std.push_back(r.f32());
    uint32_t names = r.u32();
    if (names != 0 && names != in.num_classes)
      r.fail(std::to_string(names) + " class names for " + std::to_string(in.num_classes) + " classes");
    for (uint32_t i = 0; i < names; ++i) in.class_names.push_back(r.str());
    in.arch = r.str(), in.method = r.str();
  }
  const SectionView wsec = c.section("WGTS");
  ByteReader r = c.reader("GRPH");
  uint32_t count = r.u32();
  // Each node takes at least 16 bytes: bound the count by the section before reserving.
  if (count == 0 || count > kMaxNodes || count > r.remaining() / 16)
    r.fail("node count " + std::to_string(count) + " does not fit the section");
  m.nodes.resize(count);
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
    auto extent_ok = [&](uint64_t off, uint64_t size) {
      return off <= wsec.size && size <= wsec.size - off;
    };
    const uint64_t vec = uint64_t(n.rows) * 4;
    if (!extent_ok(w_off, w_size) || !extent_ok(s_off, vec) || !extent_ok(b_off, vec))
      r.fail(at + ": weights reach past the end of section WGTS (" + std::to_string(wsec.size) + " bytes)");
    if (s_off % 4 || b_off % 4 || (n.wkind == WeightKind::kFloat32 && w_off % 4))
      r.fail(at + ": float data is not 4-byte aligned in WGTS");
    n.wdata = wsec.data + w_off;
    n.wsize = size_t(w_size);
    n.scale = reinterpret_cast<const float*>(wsec.data + s_off);
    n.bias = reinterpret_cast<const float*>(wsec.data + b_off);
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last node");
  return m;
}

}  // namespace ds::core
